#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The program, arguments and environment the worker execs.
struct WorkerCommand: Sendable {
    var path: String
    var arguments: [String]
    var environment: [String]

    static let searchPath = "/usr/local/bin:/usr/bin:/bin"

    /// The caller's environment is never inherited: it may hold the operator's credentials.
    /// `temporary` is the worker's private directory in modes without a private /tmp.
    /// `passed`: names of `inherited` the caller asked to pass on (`--pass-env`); they win over the policy's.
    /// `trust`: where the curated trust store (system roots and the router's egress CA) and the CA alone are in
    /// the worker's view, when the router inspects hosts for it; the usual variables then point there.
    static func environment(policy: SandboxPolicy, workdir: String, sandbox: String, inherited: [String: String],
                            passed: [String] = [], temporary: String? = nil,
                            trust: (bundle: String, ca: String)? = nil) -> [String]
    {
        var env: [String: String] = [
            "PATH": searchPath, "HOME": workdir, "LANG": "C.UTF-8", "AIRLOCK_SANDBOX": sandbox,
            "TMPDIR": temporary ?? "/tmp",
        ]
        if let term = inherited["TERM"] { env["TERM"] = term }
        if let api = policy.routerPorts.first {
            env["OPENAI_BASE_URL"] = "http://127.0.0.1:\(api)/v1"
            env["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:\(api)"
            // SDKs refuse to start without a key; the router ignores this one and injects the real one.
            env["OPENAI_API_KEY"] = "airlock-injects-the-key"
            env["ANTHROPIC_API_KEY"] = "airlock-injects-the-key"
        }
        if policy.routerPorts.count > 1 {
            let proxy = "http://127.0.0.1:\(policy.routerPorts[1])"
            for key in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] { env[key] = proxy }
            env["NO_PROXY"] = "127.0.0.1,localhost"
            env["no_proxy"] = "127.0.0.1,localhost"
        }
        if let trust {
            for key in ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", "PIP_CERT"] {
                env[key] = trust.bundle
            }
            // Node adds these to its own built-in roots.
            env["NODE_EXTRA_CA_CERTS"] = trust.ca
        }
        env.merge(policy.environment) { _, new in new }
        for name in passed {
            if let value = inherited[name] { env[name] = value }
        }
        return env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    }

    /// Resolves a bare command name against the sandbox's PATH, in the parent, so the child only calls execve.
    static func resolve(_ name: String, path: String = searchPath) throws -> String {
        if name.contains("/") { return name }
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        throw SandboxLaunchError(code: .commandNotFound, message: "\(name): not found in the sandbox PATH (\(path))")
    }
}
