/// Where and how to connect to the broker.
public struct AMQPConfiguration: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var virtualHost: String
    public var user: String
    public var password: String
    /// `amqps://` URLs connect over TLS.
    public var useTLS: Bool
    /// Extra CA certificate file for `amqps://` (PEM).
    public var tlsCAFile: String?
    /// Heartbeat interval in seconds that we ask for; the broker may lower it. 0 disables heartbeats.
    public var heartbeatSeconds: Int
    /// Seconds to wait for the TCP connect and the AMQP handshake.
    public var connectTimeoutSeconds: Int
    /// Shown in the management UI (`connection_name` client property).
    public var connectionName: String
    /// Bodies larger than this are not kept in memory; the delivery reports their size instead.
    public var maxRetainedBodySize: Int
    /// Reconnect backoff: first delay and cap, in seconds.
    public var reconnectInitialDelay: Double
    public var reconnectMaxDelay: Double

    public init(
        host: String = "127.0.0.1",
        port: Int = 5672,
        virtualHost: String = "/",
        user: String = "guest",
        password: String = "guest",
        useTLS: Bool = false,
        tlsCAFile: String? = nil,
        heartbeatSeconds: Int = 30,
        connectTimeoutSeconds: Int = 10,
        connectionName: String = "walink",
        maxRetainedBodySize: Int = 1 << 20,
        reconnectInitialDelay: Double = 0.1,
        reconnectMaxDelay: Double = 5
    ) {
        self.host = host
        self.port = port
        self.virtualHost = virtualHost
        self.user = user
        self.password = password
        self.useTLS = useTLS
        self.tlsCAFile = tlsCAFile
        self.heartbeatSeconds = heartbeatSeconds
        self.connectTimeoutSeconds = connectTimeoutSeconds
        self.connectionName = connectionName
        self.maxRetainedBodySize = maxRetainedBodySize
        self.reconnectInitialDelay = reconnectInitialDelay
        self.reconnectMaxDelay = reconnectMaxDelay
    }

    /// Parses `amqp://user:pass@host:port/vhost` or `amqps://...` as RabbitMQ's URI spec describes:
    /// user, password and vhost are percent-decoded; an empty path means vhost `/`, and `%2F` is `/`.
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
        port = useTLS ? 5671 : 5672

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
        // Host, optionally [IPv6], optionally :port.
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw AMQPError(.invalidURL, "unterminated IPv6 host") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") {
                port = try Self.parsePort(rest.dropFirst())
            } else if !rest.isEmpty {
                throw AMQPError(.invalidURL, "unexpected text after the host")
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            port = try Self.parsePort(rest[rest.index(after: colon)...])
        } else if !rest.isEmpty {
            host = String(rest)
        }
        if host.isEmpty { host = "127.0.0.1" }
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

    /// The URL without the password, for logs.
    public var redactedURL: String {
        let scheme = useTLS ? "amqps" : "amqp"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let vhost = virtualHost == "/" ? "" : virtualHost
        return "\(scheme)://\(user)@\(hostPart):\(port)/\(vhost)"
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
