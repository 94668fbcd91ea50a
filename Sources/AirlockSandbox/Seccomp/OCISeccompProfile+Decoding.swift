import AirlockJSON

// Keys the launcher does not know are ignored, as runc and Docker ignore them: profiles carry comments and fields
// of newer runtime-spec versions.
extension OCISeccompProfile {
    init(_ field: JSONField) throws(JSONError) {
        let c = try field.object()
        defaultAction = try c.required("defaultAction", in: field).string()
        defaultErrnoRet = try c.optional("defaultErrnoRet")?.integer(UInt32.self)
        architectures = try c.optional("architectures")?.strings()
        archMap = try c.optional("archMap").map { (v) throws(JSONError) in try v.array().map(ArchitectureMap.init) }
        flags = try c.optional("flags")?.strings()
        listenerPath = try c.optional("listenerPath")?.string()
        listenerMetadata = try c.optional("listenerMetadata")?.string()
        syscalls = try c.optional("syscalls").map { (v) throws(JSONError) in try v.array().map(SyscallRule.init) }
    }
}

extension OCISeccompProfile.ArchitectureMap {
    init(_ field: JSONField) throws(JSONError) {
        let c = try field.object()
        architecture = try c.required("architecture", in: field).string()
        subArchitectures = try c.optional("subArchitectures")?.strings()
    }
}

extension OCISeccompProfile.SyscallRule {
    init(_ field: JSONField) throws(JSONError) {
        let c = try field.object()
        names = try c.optional("names")?.strings()
        name = try c.optional("name")?.string()
        action = try c.required("action", in: field).string()
        errnoRet = try c.optional("errnoRet")?.integer(UInt32.self)
        args = try c.optional("args").map { (v) throws(JSONError) in
            try v.array().map(OCISeccompProfile.Argument.init)
        }
        comment = try c.optional("comment")?.string()
        includes = try c.optional("includes").map(OCISeccompProfile.Condition.init)
        excludes = try c.optional("excludes").map(OCISeccompProfile.Condition.init)
    }
}

extension OCISeccompProfile.Argument {
    init(_ field: JSONField) throws(JSONError) {
        let c = try field.object()
        index = try c.required("index", in: field).integer(UInt32.self)
        value = try c.required("value", in: field).integer(UInt64.self)
        valueTwo = try c.optional("valueTwo")?.integer(UInt64.self)
        op = try c.required("op", in: field).string()
    }
}

extension OCISeccompProfile.Condition {
    init(_ field: JSONField) throws(JSONError) {
        let c = try field.object()
        caps = try c.optional("caps")?.strings()
        arches = try c.optional("arches")?.strings()
        minKernel = try c.optional("minKernel")?.string()
    }
}
