/// Where the frontend's JSON Web Key Set is: an `https://` URL, a `file:` path, or (for tests
/// only, when explicitly allowed) a plain `http://` URL on the loopback interface.
public enum JWKSLocation: Sendable, Hashable, CustomStringConvertible {
    case http(HTTPEndpoint)
    case file(path: String)

    /// An HTTP(S) resource: what the fetcher connects to and asks for.
    public struct HTTPEndpoint: Sendable, Hashable {
        public var usesTLS: Bool
        /// A DNS name or an IP literal (IPv6 without brackets).
        public var host: String
        public var port: Int
        /// Path and query, as sent in the request line.
        public var target: String

        public init(usesTLS: Bool, host: String, port: Int, target: String) {
            self.usesTLS = usesTLS
            self.host = host
            self.port = port
            self.target = target
        }
    }

    /// Parses `https://host[:port]/path[?query]`, `file:/path` (or `file:///path`), and
    /// `http://127.0.0.1|localhost|[::1][:port]/...` when `allowingLoopbackHTTP`. URLs with
    /// credentials or fragments are refused, so nothing secret can hide in this setting.
    public static func parse(_ text: String, allowingLoopbackHTTP: Bool = false) throws(AuthError) -> JWKSLocation {
        func invalid(_ why: String) -> AuthError {
            AuthError(.invalidConfiguration, "WALINK_JWKS_URL \(why)")
        }
        let lowered = text.lowercased()
        if lowered.hasPrefix("file:") {
            var path = Substring(text.dropFirst("file:".count))
            if path.hasPrefix("//") {
                path = path.dropFirst(2)  // file:///path (empty host)
                guard path.hasPrefix("/") else { throw invalid("must be file:/path or file:///path") }
            }
            guard !path.isEmpty, !path.utf8.contains(0) else { throw invalid("names no file") }
            return .file(path: String(path))
        }
        let usesTLS: Bool
        let rest: Substring
        if lowered.hasPrefix("https://") {
            usesTLS = true
            rest = text.dropFirst("https://".count)
        } else if lowered.hasPrefix("http://") {
            usesTLS = false
            rest = text.dropFirst("http://".count)
        } else {
            throw invalid("must start with https:// or file:")
        }
        guard rest.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw invalid("contains spaces, control or non-ASCII characters")
        }
        guard !rest.contains("#") else { throw invalid("must not have a fragment") }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty { target = "/" } else if target.hasPrefix("?") { target = "/" + target }
        guard !authority.contains("@") else { throw invalid("must not contain credentials") }

        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("has a malformed IPv6 host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("has a malformed host") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty, host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else {
                throw invalid("has a malformed IPv6 host")
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            guard !host.isEmpty,
                host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." })
            else { throw invalid("has a malformed host") }
        }
        var port = usesTLS ? 443 : 80
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else { throw invalid("has a malformed port") }
            port = number
        }
        host = Substring(host.lowercased())
        if !usesTLS {
            guard allowingLoopbackHTTP else { throw invalid("must use https:// (plain http is for tests only)") }
            guard ["127.0.0.1", "localhost", "::1"].contains(host) else {
                throw invalid("may use plain http only on the loopback interface")
            }
        }
        return .http(HTTPEndpoint(usesTLS: usesTLS, host: String(host), port: port, target: target))
    }

    /// Where the keys come from, for logs: without the query, which might carry a secret.
    public var description: String {
        switch self {
        case .file(let path):
            return "file:\(path)"
        case .http(let endpoint):
            let host = endpoint.host.contains(":") ? "[\(endpoint.host)]" : endpoint.host
            let path = endpoint.target.prefix { $0 != "?" }
            return "\(endpoint.usesTLS ? "https" : "http")://\(host):\(endpoint.port)\(path)"
        }
    }
}
