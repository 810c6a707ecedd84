/// Takes the token out of an `authorization: Bearer <token>` header (RFC 6750 §2.1).
enum BearerToken {
    /// The token, checked for shape only: the scheme is case-insensitive, the token must be
    /// non-empty, at most `maxLength` bytes, and made of the `b64token` characters
    /// (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding). Big headers are refused before any work.
    static func extract(from header: String?, maxLength: Int) throws(AuthError) -> String {
        guard let header else {
            throw AuthError(.missingCredentials, "the command has no authorization header")
        }
        guard header.utf8.count <= maxLength + 64 else {
            throw AuthError(.tokenTooLarge, "the token is longer than \(maxLength) bytes")
        }
        let bytes = Array(header.utf8)
        let isSpace = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) }) else {
            throw AuthError(.missingCredentials, "the authorization header is empty")
        }
        let trimmed = bytes[first...last]
        let schemeEnd = trimmed.firstIndex(where: isSpace) ?? trimmed.endIndex
        let scheme = trimmed[..<schemeEnd]
        guard scheme.count == 6, String(decoding: scheme, as: UTF8.self).lowercased() == "bearer" else {
            throw AuthError(.malformedAuthorization, "the authorization header must be \"Bearer <token>\"")
        }
        let token = trimmed[schemeEnd...].drop(while: isSpace)
        guard !token.isEmpty else {
            throw AuthError(.malformedAuthorization, "the authorization header has an empty token")
        }
        guard token.count <= maxLength else {
            throw AuthError(.tokenTooLarge, "the token is longer than \(maxLength) bytes")
        }
        let padding = token.reversed().prefix(while: { $0 == UInt8(ascii: "=") }).count
        guard padding < token.count, token.dropLast(padding).allSatisfy(isTokenCharacter) else {
            throw AuthError(.malformedAuthorization, "the token contains characters a bearer token cannot have")
        }
        return String(decoding: token, as: UTF8.self)
    }

    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "+"),
            UInt8(ascii: "/"):
            true
        default:
            false
        }
    }
}
