#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where and how to connect to the broker.
public struct AMQPConfiguration: Sendable, Hashable {
    /// One broker node of the cluster.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// `host:port`, with an IPv6 host in brackets.
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Debian's bundle of the system's trusted CAs (package `ca-certificates`). rabbitmq-c loads no
    /// default trust anchors of its own, so the client loads this file explicitly.
    public static let systemTrustFile = "/etc/ssl/certs/ca-certificates.crt"

    /// The cluster's nodes, in the URL's order (never empty). A client tries them in an order it
    /// shuffles once, moving to the next node at every reconnect.
    public var nodes: [Node]
    public var virtualHost: String
    public var user: String
    public var password: String
    /// `amqps://` URLs connect over TLS.
    public var useTLS: Bool
    /// The system trust store for `amqps://` (PEM bundle); nil trusts only ``tlsCAFile``. A file
    /// that does not exist is skipped, so a machine without `ca-certificates` can still use a
    /// private CA.
    public var tlsSystemTrustFile: String?
    /// A private CA (PEM) trusted in addition to the system trust store (`WALINK_AMQP_CA_FILE`).
    public var tlsCAFile: String?
    /// Client certificate (PEM, may hold its chain) and its unencrypted key, for brokers that
    /// require mutual TLS (`WALINK_AMQP_CERT_FILE`, `WALINK_AMQP_KEY_FILE`).
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    /// Heartbeat interval in seconds that we ask for; the broker may lower it. 0 disables heartbeats.
    public var heartbeatSeconds: Int
    /// Seconds to wait for the TCP connect and the AMQP handshake.
    public var connectTimeoutSeconds: Int
    /// A publish the broker has not confirmed within this time means the node stopped working (a
    /// node cut off from its cluster still takes connections and publishes, but never confirms):
    /// the connection is dropped and the next node tried, where the publish is sent again.
    public var confirmTimeout: Duration
    /// How long a synchronous call (a declare, a consumer's start or cancel) may wait for the
    /// broker's answer before the connection counts as dead.
    public var rpcTimeout: Duration
    /// Shown in the management UI (`connection_name` client property).
    public var connectionName: String
    /// Bodies larger than this are not kept in memory; the delivery reports their size instead.
    public var maxRetainedBodySize: Int
    /// Reconnect backoff: first delay and cap, in seconds.
    public var reconnectInitialDelay: Double
    public var reconnectMaxDelay: Double

    public init(
        nodes: [Node] = [Node(host: "127.0.0.1", port: 5672)],
        virtualHost: String = "/",
        user: String = "guest",
        password: String = "guest",
        useTLS: Bool = false,
        tlsSystemTrustFile: String? = AMQPConfiguration.systemTrustFile,
        tlsCAFile: String? = nil,
        tlsCertificateFile: String? = nil,
        tlsKeyFile: String? = nil,
        heartbeatSeconds: Int = 30,
        connectTimeoutSeconds: Int = 10,
        confirmTimeout: Duration = .seconds(10),
        rpcTimeout: Duration = .seconds(30),
        connectionName: String = "walink",
        maxRetainedBodySize: Int = 1 << 20,
        reconnectInitialDelay: Double = 0.1,
        reconnectMaxDelay: Double = 5
    ) {
        precondition(!nodes.isEmpty, "a configuration needs at least one node")
        self.nodes = nodes
        self.virtualHost = virtualHost
        self.user = user
        self.password = password
        self.useTLS = useTLS
        self.tlsSystemTrustFile = tlsSystemTrustFile
        self.tlsCAFile = tlsCAFile
        self.tlsCertificateFile = tlsCertificateFile
        self.tlsKeyFile = tlsKeyFile
        self.heartbeatSeconds = heartbeatSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.confirmTimeout = confirmTimeout
        self.rpcTimeout = rpcTimeout
        self.connectionName = connectionName
        self.maxRetainedBodySize = maxRetainedBodySize
        self.reconnectInitialDelay = reconnectInitialDelay
        self.reconnectMaxDelay = reconnectMaxDelay
    }

    /// Parses `amqp://user:pass@host:port/vhost` or `amqps://...` as RabbitMQ's URI spec describes:
    /// user, password and vhost are percent-decoded; an empty path means vhost `/`, and `%2F` is `/`.
    ///
    /// The authority may name several nodes of one cluster, separated by commas, which share the
    /// credentials and the vhost: `amqp://u:p@h1:5672,h2:5672,[::1]/vhost`. A node without a port
    /// gets the scheme's (5672, or 5671 for `amqps`).
    public init(url: String) throws(AMQPError) {
        self.init()
        let scheme: String
        var rest: Substring
        if url.hasPrefix("amqp://") {
            scheme = "amqp"
            rest = url.dropFirst("amqp://".count)
        } else if url.hasPrefix("amqps://") {
            scheme = "amqps"
            rest = url.dropFirst("amqps://".count)
        } else {
            throw AMQPError(.invalidURL, "the URL must start with amqp:// or amqps://")
        }
        useTLS = scheme == "amqps"
        let defaultPort = useTLS ? 5671 : 5672

        var path: Substring? = nil
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = try Self.percentDecode(credentials[..<colon])
                password = try Self.percentDecode(credentials[credentials.index(after: colon)...])
            } else {
                user = try Self.percentDecode(credentials)
            }
        }
        let entries = rest.split(separator: ",", omittingEmptySubsequences: false)
        var parsed: [Node] = []
        for entry in entries {
            // A lone node may leave out the host (`amqp://:5673/`), as in RabbitMQ's URI spec.
            parsed.append(try Self.parseNode(entry, defaultPort: defaultPort, defaultHost: entries.count == 1 ? "127.0.0.1" : nil))
        }
        nodes = parsed
        if let path {
            // Query parameters (heartbeat=..., connection_timeout=...) as in RabbitMQ's URI query spec.
            var vhostPart = path
            if let question = path.firstIndex(of: "?") {
                vhostPart = path[..<question]
                for pair in path[path.index(after: question)...].split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1)
                    guard parts.count == 2, let value = Int(parts[1]), value >= 0 else {
                        throw AMQPError(.invalidURL, "bad query parameter")
                    }
                    switch parts[0] {
                    case "heartbeat": heartbeatSeconds = value
                    case "connection_timeout": connectTimeoutSeconds = max(1, value / 1000)
                    default: continue
                    }
                }
            }
            virtualHost = vhostPart.isEmpty ? "/" : try Self.percentDecode(vhostPart)
        }
    }

    /// The configuration of a `walink` program: `url` (`WALINK_AMQP_URL`) with the settings that go
    /// with it from `environment`:
    ///
    /// - `WALINK_AMQP_CONFIRM_TIMEOUT`: seconds (default 10) before an unconfirmed publish drops the
    ///   connection (see ``confirmTimeout``);
    /// - `WALINK_AMQP_CA_FILE`: a private CA (PEM) trusted in addition to the system trust store;
    /// - `WALINK_AMQP_CERT_FILE` and `WALINK_AMQP_KEY_FILE`: a client certificate and its key, both
    ///   or neither.
    ///
    /// The files must be readable now (they are loaded again at every connect). Errors name the
    /// setting and the file, never the password.
    public init(url: String, environment: [String: String]) throws(AMQPError) {
        try self.init(url: url)
        func setting(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        if let text = setting("WALINK_AMQP_CONFIRM_TIMEOUT") {
            guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 3600 else {
                throw AMQPError(.invalidConfiguration, "WALINK_AMQP_CONFIRM_TIMEOUT must be a number of seconds from 0 to 3600, not \"\(text)\"")
            }
            confirmTimeout = .milliseconds(Int64((seconds * 1000).rounded(.up)))
        }
        tlsCAFile = setting("WALINK_AMQP_CA_FILE")
        tlsCertificateFile = setting("WALINK_AMQP_CERT_FILE")
        tlsKeyFile = setting("WALINK_AMQP_KEY_FILE")
        switch (tlsCertificateFile, tlsKeyFile) {
        case (.some, nil): throw AMQPError(.invalidConfiguration, "WALINK_AMQP_CERT_FILE is set but WALINK_AMQP_KEY_FILE is not")
        case (nil, .some): throw AMQPError(.invalidConfiguration, "WALINK_AMQP_KEY_FILE is set but WALINK_AMQP_CERT_FILE is not")
        default: break
        }
        for (name, file) in [
            ("WALINK_AMQP_CA_FILE", tlsCAFile), ("WALINK_AMQP_CERT_FILE", tlsCertificateFile), ("WALINK_AMQP_KEY_FILE", tlsKeyFile),
        ] {
            guard let file else { continue }
            guard access(file, R_OK) == 0 else { throw AMQPError(.invalidConfiguration, "\(name): cannot read \(file)") }
        }
        if !useTLS, tlsCAFile != nil || tlsCertificateFile != nil {
            throw AMQPError(.invalidConfiguration, "WALINK_AMQP_CA_FILE, WALINK_AMQP_CERT_FILE and WALINK_AMQP_KEY_FILE need an amqps:// URL")
        }
    }

    /// The URL without the password, for logs.
    public var redactedURL: String {
        let scheme = useTLS ? "amqps" : "amqp"
        let vhost = virtualHost == "/" ? "" : virtualHost
        return "\(scheme)://\(user)@\(nodes.map(\.description).joined(separator: ","))/\(vhost)"
    }

    /// The PEM files whose CAs a TLS connection trusts: the system trust store (when it exists)
    /// and the private CA.
    var tlsTrustFiles: [String] {
        var files: [String] = []
        if let system = tlsSystemTrustFile, access(system, R_OK) == 0 { files.append(system) }
        if let tlsCAFile { files.append(tlsCAFile) }
        return files
    }

    /// `host`, `[IPv6]`, either with `:port`.
    private static func parseNode(_ text: Substring, defaultPort: Int, defaultHost: String?) throws(AMQPError) -> Node {
        var rest = text
        var host: String
        var port = defaultPort
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw AMQPError(.invalidURL, "unterminated IPv6 host") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") {
                port = try parsePort(rest.dropFirst())
            } else if !rest.isEmpty {
                throw AMQPError(.invalidURL, "unexpected text after the host")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            port = try parsePort(rest[rest.index(after: colon)...])
        } else {
            host = String(rest)
        }
        if host.isEmpty, let defaultHost { host = defaultHost }
        guard !host.isEmpty else { throw AMQPError(.invalidURL, "a node of the URL has no host") }
        return Node(host: host, port: port)
    }

    private static func parsePort(_ text: Substring) throws(AMQPError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw AMQPError(.invalidURL, "the port must be a number from 1 to 65535")
        }
        return port
    }

    private static func percentDecode(_ text: Substring) throws(AMQPError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw AMQPError(.invalidURL, "bad percent escape")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw AMQPError(.invalidURL, "percent escapes do not form UTF-8")
        }
        return string
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
