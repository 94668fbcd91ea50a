import CSeccomp

/// A parsed `SCMP_ACT_*` action with its libseccomp encoding.
struct SeccompAction: Sendable {
    var raw: UInt32
    var text: String

    var isAllow: Bool { raw == SCMP_ACT_ALLOW }

    static func parse(_ name: String, errnoRet: UInt32?, defaultErrno: UInt32, location: String)
        throws(SeccompProfileError) -> SeccompAction
    {
        // The function-like SCMP_ACT_ERRNO()/SCMP_ACT_TRACE() macros do not import into Swift; encodings from
        // seccomp.h: action in the high 16 bits, data in the low 16.
        switch name {
        case "SCMP_ACT_ALLOW": return SeccompAction(raw: SCMP_ACT_ALLOW, text: "ALLOW")
        case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD": return SeccompAction(raw: SCMP_ACT_KILL_THREAD, text: "KILL_THREAD")
        case "SCMP_ACT_KILL_PROCESS": return SeccompAction(raw: SCMP_ACT_KILL_PROCESS, text: "KILL_PROCESS")
        case "SCMP_ACT_TRAP": return SeccompAction(raw: SCMP_ACT_TRAP, text: "TRAP")
        case "SCMP_ACT_LOG": return SeccompAction(raw: SCMP_ACT_LOG, text: "LOG")
        case "SCMP_ACT_ERRNO":
            let value = errnoRet ?? defaultErrno
            return SeccompAction(raw: 0x0005_0000 | (value & 0xffff), text: "ERRNO(\(SystemError(Int32(value)).name))")
        case "SCMP_ACT_TRACE":
            let value = errnoRet ?? defaultErrno
            return SeccompAction(raw: 0x7ff0_0000 | (value & 0xffff), text: "TRACE(\(value))")
        case "SCMP_ACT_NOTIFY":
            throw SeccompProfileError(code: .unsupportedAction, location: location,
                                      message: "SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath), which airlock does not run")
        default:
            throw SeccompProfileError(code: .unknownAction, location: location,
                                      message: "'\(name)' is not an SCMP_ACT_* action")
        }
    }
}
