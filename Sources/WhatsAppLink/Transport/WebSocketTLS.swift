import NIOSSL
import Synchronization

/// The client TLS contexts of this process, one per extra CA file.
///
/// Building an `NIOSSLContext` loads the trust store, so a worker running a thousand sessions must share one
/// context instead of building one per connection: every ``WebSocketClient`` connection that does not bring
/// its own context takes it from here. A context trusts the system store plus, when given, the PEM
/// certificates of `extraCAFile` (for example a loopback simulator's self-signed CA). Certificate and
/// hostname verification stay on.
public enum WebSocketTLS {
    private static let cache = Mutex<[String: NIOSSLContext]>([:])

    /// The shared context trusting the system store and `extraCAFile` (nil: the system store only). A file
    /// is read once, the first time it is asked for; a failure is not cached, so a fixed file is picked up.
    public static func sharedContext(extraCAFile: String?) throws(WebSocketError) -> NIOSSLContext {
        let key = extraCAFile ?? ""
        if let context = cache.withLock({ $0[key] }) { return context }
        let context = try makeContext(extraCAFile: extraCAFile)
        return cache.withLock { contexts in
            if let existing = contexts[key] { return existing }
            contexts[key] = context
            return context
        }
    }

    /// A new, unshared context trusting the system store and `extraCAFile`.
    public static func makeContext(extraCAFile: String?) throws(WebSocketError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .default
        configuration.certificateVerification = .fullVerification
        if let extraCAFile {
            // Read the file now, so a missing or malformed file is reported here, not at the first handshake.
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(extraCAFile)
                guard !certificates.isEmpty else {
                    throw WebSocketError(.tlsConfiguration, detail: "no certificate in CA file")
                }
                configuration.additionalTrustRoots = [.certificates(certificates)]
            } catch let error as WebSocketError {
                throw error
            } catch {
                throw WebSocketError(.tlsConfiguration, detail: "cannot read CA file: \(error)")
            }
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw WebSocketError(.tlsConfiguration, detail: "\(error)")
        }
    }
}
