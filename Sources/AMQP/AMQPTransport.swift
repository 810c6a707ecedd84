import CRabbitMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens the socket of a rabbitmq-c connection to one node: plain TCP, or TLS that verifies the
/// broker. Used by ``AMQPClient`` and by the benchmarks' raw rabbitmq-c connections, so both
/// connect the same way.
///
/// TLS, with rabbitmq-c 0.11 (which loads no trust anchors by itself):
/// - the broker's certificate must chain to a CA of the system trust store
///   (``AMQPConfiguration/systemTrustFile``) or of ``AMQPConfiguration/tlsCAFile``: both files are
///   loaded into the same store, so a private CA adds to the system's CAs;
/// - its DNS names (or, without any, its common name) must match the node's host as written in
///   the URL; rabbitmq-c checks names only, so a broker reached by IP address needs that address
///   as a DNS name in its certificate;
/// - a client certificate is sent when ``AMQPConfiguration/tlsCertificateFile`` and
///   ``AMQPConfiguration/tlsKeyFile`` are set.
public enum AMQPTransport {
    /// Creates the socket for `state`, connects it to `node` and, for TLS, completes and checks the
    /// handshake. The socket belongs to `state` (destroyed with it).
    public static func open(
        _ state: amqp_connection_state_t, to node: AMQPConfiguration.Node, configuration: AMQPConfiguration
    ) throws(AMQPError) {
        let socket: OpaquePointer
        if configuration.useTLS {
            guard let created = amqp_ssl_socket_new(state) else { throw AMQPError(.connectionFailed, "cannot create a TLS socket") }
            socket = created
            try configureTLS(socket, configuration)
        } else {
            guard let created = amqp_tcp_socket_new(state) else { throw AMQPError(.connectionFailed, "cannot create a socket") }
            socket = created
        }
        var timeout = timeval(tv_sec: configuration.connectTimeoutSeconds, tv_usec: 0)
        let status = amqp_socket_open_noblock(socket, node.host, Int32(node.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else { throw openError(status, node: node, configuration: configuration) }
    }

    /// The error for a login that failed with a library status (not a broker's refusal). Over
    /// TLS, a broker that requires a client certificate accepts the handshake (TLS 1.3 finishes it
    /// on our side first) and then ends the session when it finds no certificate: that shows up
    /// here, as an SSL error or a closed connection on the first read.
    public static func loginError(_ status: Int32, node: AMQPConfiguration.Node, configuration: AMQPConfiguration) -> AMQPError {
        let text = statusText(status)
        if configuration.useTLS,
            [AMQP_STATUS_SSL_ERROR.rawValue, AMQP_STATUS_CONNECTION_CLOSED.rawValue, AMQP_STATUS_SOCKET_ERROR.rawValue].contains(status)
        {
            return AMQPError(
                .tlsHandshakeFailed, "\(node): the broker ended the TLS session during login (\(text))\(clientCertificateHint(configuration))")
        }
        return AMQPError(.loginFailed, "\(node): login: \(text)")
    }

    /// Why a broker may end a TLS handshake: the client certificate it requires.
    private static func clientCertificateHint(_ configuration: AMQPConfiguration) -> String {
        configuration.tlsCertificateFile == nil
            ? "; a broker that requires a client certificate does this when none is given (WALINK_AMQP_CERT_FILE)"
            : "; the broker may not trust the client certificate (WALINK_AMQP_CERT_FILE)"
    }

    static func statusText(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "status \(status)" }
        return String(cString: text)
    }

    // MARK: - TLS

    /// An empty key password for rabbitmq-c to hand OpenSSL, which keeps the address: without one,
    /// OpenSSL would ask for an encrypted key's passphrase on the terminal. Never freed.
    nonisolated(unsafe) private static let noKeyPassword: UnsafeMutablePointer<CChar> = strdup("")!

    private static func configureTLS(_ socket: OpaquePointer, _ configuration: AMQPConfiguration) throws(AMQPError) {
        let trustFiles = configuration.tlsTrustFiles
        guard !trustFiles.isEmpty else {
            throw AMQPError(
                .invalidConfiguration,
                "no CA to verify the broker with: \(configuration.tlsSystemTrustFile ?? "the system trust store") is missing (install ca-certificates) and WALINK_AMQP_CA_FILE is not set"
            )
        }
        // Each call adds the file's certificates to the one store of the socket's SSL context.
        for file in trustFiles {
            guard amqp_ssl_socket_set_cacert(socket, file) == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(.invalidConfiguration, "cannot load CA certificates (PEM) from \(file)")
            }
        }
        if let certificate = configuration.tlsCertificateFile, let key = configuration.tlsKeyFile {
            amqp_ssl_socket_set_key_passwd(socket, noKeyPassword)
            guard amqp_ssl_socket_set_key(socket, certificate, key) == AMQP_STATUS_OK.rawValue else {
                throw AMQPError(
                    .invalidConfiguration,
                    "cannot load the client certificate \(certificate) with the key \(key) (PEM, the key unencrypted and matching the certificate)"
                )
            }
        }
        amqp_ssl_socket_set_verify_peer(socket, 1)
        amqp_ssl_socket_set_verify_hostname(socket, 1)
    }

    private static func openError(_ status: Int32, node: AMQPConfiguration.Node, configuration: AMQPConfiguration) -> AMQPError {
        switch status {
        case AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue:
            AMQPError(
                .tlsVerificationFailed,
                "\(node): the broker's certificate does not verify (not signed by a CA of the system trust store or WALINK_AMQP_CA_FILE, or not valid now)"
            )
        case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue:
            AMQPError(
                .tlsVerificationFailed,
                "\(node): the broker's certificate is not issued for \(node.host) (its DNS names must include the host as written in the URL)"
            )
        case AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue, AMQP_STATUS_SSL_ERROR.rawValue:
            AMQPError(.tlsHandshakeFailed, "\(node): TLS handshake failed (\(statusText(status)))\(clientCertificateHint(configuration))")
        default:
            AMQPError(.connectionFailed, "\(node): \(statusText(status))")
        }
    }
}
