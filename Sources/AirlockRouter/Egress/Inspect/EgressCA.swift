#if canImport(Glibc)
import Glibc
#endif
import Crypto
import Foundation
import SwiftASN1
import NIOSSL
import X509

/// The router's egress CA: an ECDSA P-256 key and a self-signed certificate in `<state_directory>/egress-ca/`
/// (`ca.key` mode 0600, owned by the router; `ca.pem` the public certificate, mode 0644, which `airlock run` adds
/// to the sandbox's trust store). It issues a leaf certificate per inspected host on the fly: 24 hours, SAN = the
/// host, cached until it is within an hour of expiring.
final class EgressCA: Sendable {
    static let directoryName = "egress-ca"
    static let keyName = "ca.key"
    static let certificateName = "ca.pem"
    static let leafLifetime: TimeInterval = 24 * 3600
    static let caLifetime: TimeInterval = 5 * 365 * 24 * 3600

    let certificatePEM: String
    private let key: P256.Signing.PrivateKey
    private let certificate: Certificate
    private let leafKey: P256.Signing.PrivateKey
    private let leaves: Locked<[String: (context: NIOSSLContext, expires: Date)]> = Locked([:])

    struct CAError: Error, CustomStringConvertible {
        var description: String
    }

    init(key: P256.Signing.PrivateKey, certificate: Certificate, certificatePEM: String) {
        self.key = key
        self.certificate = certificate
        self.certificatePEM = certificatePEM
        self.leafKey = P256.Signing.PrivateKey()
    }

    static func paths(stateDirectory: String) -> (directory: String, key: String, certificate: String) {
        let directory = stateDirectory + "/" + directoryName
        return (directory, directory + "/" + keyName, directory + "/" + certificateName)
    }

    /// Loads the CA from the state directory, creating it at first start. The key file must be the router's alone.
    static func loadOrCreate(stateDirectory: String, owner: (uid: uid_t, gid: gid_t)? = nil) throws -> EgressCA {
        if let ca = try load(stateDirectory: stateDirectory) { return ca }
        return try create(stateDirectory: stateDirectory, owner: owner)
    }

    /// The CA in the state directory, or nil if there is none yet.
    static func load(stateDirectory: String) throws -> EgressCA? {
        let paths = paths(stateDirectory: stateDirectory)
        if let keyBytes = try DurableFile.read(paths.key, limit: 64 << 10) {
            var st = stat()
            guard stat(paths.key, &st) == 0 else { throw SystemCallError(call: "stat", subject: paths.key, errno: errno) }
            if st.st_mode & 0o077 != 0 {
                throw CAError(description: "\(paths.key) is accessible to other users (mode \(String(st.st_mode & 0o777, radix: 8))): chmod 0600 it, or run `airlock egress ca rotate` to make a new CA")
            }
            guard let certBytes = try DurableFile.read(paths.certificate, limit: 64 << 10) else {
                throw CAError(description: "\(paths.certificate) is missing although \(paths.key) exists: run `airlock egress ca rotate` to make a new CA")
            }
            do {
                let key = try P256.Signing.PrivateKey(pemRepresentation: String(decoding: keyBytes, as: UTF8.self))
                let pem = String(decoding: certBytes, as: UTF8.self)
                let certificate = try Certificate(pemEncoded: pem)
                guard certificate.publicKey == Certificate.PublicKey(key.publicKey) else {
                    throw CAError(description: "\(paths.certificate) does not belong to \(paths.key): run `airlock egress ca rotate`")
                }
                return EgressCA(key: key, certificate: certificate, certificatePEM: pem)
            } catch let error as CAError {
                throw error
            } catch {
                throw CAError(description: "cannot read the egress CA in \(paths.directory): \(error); run `airlock egress ca rotate` to make a new one")
            }
        }
        return nil
    }

    /// Makes a new CA key and certificate in place of any old one (`airlock egress ca rotate`).
    @discardableResult
    static func create(stateDirectory: String, owner: (uid: uid_t, gid: gid_t)? = nil) throws -> EgressCA {
        let paths = paths(stateDirectory: stateDirectory)
        try DurableFile.ensureDirectory(stateDirectory)
        // 0755: the public certificate is read by `airlock run`; the key file itself is 0600.
        try DurableFile.ensureDirectory(paths.directory, mode: 0o755)
        let key = P256.Signing.PrivateKey()
        let now = Date()
        let name = try DistinguishedName {
            OrganizationName("Airlock")
            CommonName("Airlock egress CA \(Hex.encode(Array(SHA256.hash(data: key.publicKey.derRepresentation)).prefix(4)))")
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now - 3600,
            notValidAfter: now + caLifetime,
            issuer: name,
            subject: name,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        let pem = try certificate.serializeAsPEM().pemString + "\n"
        try DurableFile.replace(paths.key, with: Array(key.pemRepresentation.utf8), mode: 0o600)
        // `replace` opens with the mode, which an existing file keeps; make sure of it.
        guard chmod(paths.key, 0o600) == 0 else { throw SystemCallError(call: "chmod", subject: paths.key, errno: errno) }
        try DurableFile.replace(paths.certificate, with: Array(pem.utf8), mode: 0o644)
        guard chmod(paths.certificate, 0o644) == 0 else { throw SystemCallError(call: "chmod", subject: paths.certificate, errno: errno) }
        if let owner {
            for path in [paths.directory, paths.key, paths.certificate] where chown(path, owner.uid, owner.gid) != 0 {
                throw SystemCallError(call: "chown", subject: path, errno: errno)
            }
        }
        return EgressCA(key: key, certificate: certificate, certificatePEM: pem)
    }

    /// The file name `airlock run` reads beside the control socket (AirlockFront's ControlSocketRegistrar).
    static let publishedName = "egress-ca.pem"

    /// Writes the public certificate beside the control socket (mode 0644), replacing any earlier one.
    static func publish(_ ca: EgressCA, controlSocket: String) throws {
        let directory = controlSocket.lastIndex(of: "/").map { String(controlSocket[..<$0]) } ?? "."
        let path = (directory.isEmpty ? "" : directory) + "/" + publishedName
        try DurableFile.replace(path, with: Array(ca.certificatePEM.utf8), mode: 0o644)
        guard chmod(path, 0o644) == 0 else { throw SystemCallError(call: "chmod", subject: path, errno: errno) }
    }

    /// A TLS server context presenting a leaf for `host` (issued now, or the cached one), offering only HTTP/1.1.
    func serverContext(for host: String) throws -> NIOSSLContext {
        let now = Date()
        if let cached = leaves.withLock({ $0[host] }), cached.expires > now + 3600 { return cached.context }
        let leafPublic = Certificate.PublicKey(leafKey.publicKey)
        let leaf = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: leafPublic,
            notValidBefore: now - 300,
            notValidAfter: now + Self.leafLifetime,
            issuer: certificate.subject,
            subject: try DistinguishedName { CommonName(host) },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames([.dnsName(host)])
                AuthorityKeyIdentifier(keyIdentifier: try? certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        var serializer = DER.Serializer()
        try serializer.serialize(leaf)
        let leafCertificate = try NIOSSLCertificate(bytes: serializer.serializedBytes, format: .der)
        let caCertificate = try NIOSSLCertificate(bytes: Array(certificatePEM.utf8), format: .pem)
        let privateKey = try NIOSSLPrivateKey(bytes: Array(leafKey.derRepresentation), format: .der)
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(leafCertificate), .certificate(caCertificate)],
            privateKey: .privateKey(privateKey)
        )
        // HTTP/2 first: curl (and git through it) take it when offered; the proxy serves both (InspectedH2Connection).
        configuration.applicationProtocols = ["h2", "http/1.1"]
        configuration.minimumTLSVersion = TLSVersion.tlsv12
        let context = try NIOSSLContext(configuration: configuration)
        leaves.withLock { cache in
            if cache.count > 1024 { cache.removeAll() }
            cache[host] = (context, now + Self.leafLifetime)
        }
        return context
    }
}

/// The CA operations `airlock egress ca` runs (the router's own types stay internal).
public enum EgressCertificateAuthority {
    public static func paths(stateDirectory: String) -> (key: String, certificate: String) {
        let p = EgressCA.paths(stateDirectory: stateDirectory)
        return (p.key, p.certificate)
    }

    /// The public certificate, checked as the router checks it at start; nil before the router's first start.
    public static func certificatePEM(stateDirectory: String) throws -> String? {
        try EgressCA.load(stateDirectory: stateDirectory)?.certificatePEM
    }

    /// Replaces the CA with a new one, owned by `user` when given and the caller is root.
    public static func rotate(stateDirectory: String, user: String?) throws -> (key: String, certificate: String) {
        let owner = try (geteuid() == 0 ? user : nil).map(Privileges.resolve).map { (uid: $0.uid, gid: $0.gid) }
        try EgressCA.create(stateDirectory: stateDirectory, owner: owner)
        return paths(stateDirectory: stateDirectory)
    }
}
