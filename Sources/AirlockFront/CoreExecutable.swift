#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AirlockSandbox

/// `airlock-core`: the router, receipts, health, egress guard and mock upstream, with Foundation, SwiftNIO and
/// the rest. It sits next to `airlock` in a build directory and in `PREFIX/libexec/airlock` when installed.
public enum CoreExecutable {
    public static let name = "airlock-core"

    /// Where to look, given the directory `airlock` itself is in (symlinks resolved).
    public static func candidates(besides directory: String) -> [String] {
        ["\(directory)/\(name)", "\(parentDirectory(of: directory))/libexec/airlock/\(name)"]
    }

    /// The first candidate that is an executable file.
    public static func locate(besides directory: String) -> String? {
        candidates(besides: directory).first { path in
            var st = stat()
            return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
        }
    }

    /// Replaces this process with the core, same arguments (argv[0] included, so its messages still say
    /// `airlock`) and environment. Returns only if that failed, with the exit status to use.
    public static func exec(_ arguments: [String]) -> Int32 {
        let directory = executableDirectory()
        guard let path = locate(besides: directory) else {
            let looked = candidates(besides: directory).joined(separator: " and ")
            printError("airlock: cannot find \(name); looked for \(looked). Reinstall airlock (scripts/install.sh "
                + "installs both).")
            return 127
        }
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv(path, argv)
        let code = errno
        printError("airlock: cannot execute \(path): \(SystemError(code))")
        return 126
    }
}
