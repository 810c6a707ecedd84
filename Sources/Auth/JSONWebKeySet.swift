import JSON

/// The usable signature keys of a JWKS document (RFC 7517 §5), and the rule that picks the one
/// key a token may be verified with.
struct JSONWebKeySet: Sendable {
    struct Malformed: Error {}

    /// What ``select(keyID:algorithm:)`` found.
    enum Selection {
        case key(JSONWebKey)
        /// No key has this `kid` (or the set is empty): fetching the set again may help.
        case unknownKeyID
        /// Several keys and the token names none.
        case missingKeyID
        /// The named key is not of the type the token's `alg` needs.
        case mismatch
    }

    let keys: [JSONWebKey]

    init(keys: [JSONWebKey]) {
        self.keys = keys
    }

    /// Reads a JWKS document. Members that are not usable signature keys are skipped and their
    /// reasons returned for logging; a document that is not `{"keys": [...]}` is refused.
    static func parse(_ document: [UInt8]) throws(Malformed) -> (set: JSONWebKeySet, skipped: [String]) {
        let json: JSONValue
        do {
            json = try JSONParser.parse(document, maxDepth: 32)
        } catch {
            throw Malformed()
        }
        guard let members = json.objectValue?["keys"]?.arrayValue else { throw Malformed() }
        var keys: [JSONWebKey] = []
        var skipped: [String] = []
        for (index, member) in members.enumerated() {
            do {
                keys.append(try JSONWebKey(member))
            } catch {
                skipped.append("key \(index): \(error.description)")
            }
        }
        return (JSONWebKeySet(keys: keys), skipped)
    }

    /// The key for a token with this header. A `kid` must match exactly; without one, the set
    /// must hold a single key (otherwise which key signed would be a guess).
    func select(keyID: String?, algorithm: JWTAlgorithm) -> Selection {
        let candidates: [JSONWebKey]
        if let keyID {
            candidates = keys.filter { $0.id == keyID }
        } else {
            guard keys.count <= 1 else { return .missingKeyID }
            candidates = keys
        }
        guard !candidates.isEmpty else { return .unknownKeyID }
        guard let key = candidates.first(where: { $0.accepts(algorithm) }) else { return .mismatch }
        return .key(key)
    }
}
