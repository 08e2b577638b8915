import Foundation
import NIOSSL

/// The collector's certificate chain and private key, PEM files as a CA or `openssl req` writes them.
///
/// Loaded once at the start: a file that cannot be read or parsed stops `fieldctl serve` with the file's name and
/// what is wrong with it, before anything listens. TLS 1.2 is the oldest version offered, as the agent's mbed TLS
/// speaks 1.2 and nothing older is safe.
public struct TLSFiles: Sendable, Equatable {
    /// The server's certificate first, then any intermediates.
    public var certificatePath: String
    public var privateKeyPath: String

    public init(certificatePath: String, privateKeyPath: String) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
    }

    /// The server configuration, or an error that names the file at fault.
    func configuration() throws(CollectorError) -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
        try Self.readable(certificatePath, "--tls-cert")
        try Self.readable(privateKeyPath, "--tls-key")
        do { chain = try NIOSSLCertificate.fromPEMFile(certificatePath) } catch {
            throw CollectorError("--tls-cert \(certificatePath): not a PEM certificate chain (\(error))")
        }
        guard !chain.isEmpty else {
            throw CollectorError("--tls-cert \(certificatePath): holds no certificate (-----BEGIN CERTIFICATE-----)")
        }
        do { key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem) } catch {
            throw CollectorError(
                "--tls-key \(privateKeyPath): not an unencrypted PEM private key (\(error)); an encrypted key needs "
                    + "`openssl pkey -in KEY -out PLAIN` first")
        }
        var config = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        config.minimumTLSVersion = .tlsv12
        // The key must belong to the certificate: NIOSSL checks when the context is made, with an opaque error.
        do { _ = try NIOSSLContext(configuration: config) } catch {
            throw CollectorError(
                "--tls-cert \(certificatePath) and --tls-key \(privateKeyPath) do not make a TLS context: is the key "
                    + "the certificate's? (\(error))")
        }
        return config
    }

    private static func readable(_ path: String, _ flag: String) throws(CollectorError) {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw CollectorError(
                FileManager.default.fileExists(atPath: path)
                    ? "\(flag) \(path): not readable by this user" : "\(flag) \(path): no such file")
        }
    }
}
