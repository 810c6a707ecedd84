/// `pairing-code.json`, decoded.
struct PairingCodeVector {
    let codeBytes: [UInt8]
    let code: String
    let display: String
    let wrappedCompanionEphemeral: [UInt8]
    let wrappedPrimaryEphemeral: [UInt8]
    let wrappedKeyBundle: [UInt8]
    let advSecret: [UInt8]
    /// The `keys` object: private keys and random inputs, by name.
    let keys: [String: [UInt8]]

    static func load() throws -> PairingCodeVector {
        guard let json = try Vectors.json("pairing-code.json") as? [String: Any],
            let keys = json["keys"] as? [String: String]
        else { throw VectorError(message: "pairing-code.json has an unexpected shape") }
        func field(_ name: String) throws -> String {
            guard let value = json[name] as? String else { throw VectorError(message: "missing \(name)") }
            return value
        }
        return PairingCodeVector(
            codeBytes: try unhex(field("code_bytes")), code: try field("code"), display: try field("display"),
            wrappedCompanionEphemeral: try unhex(field("wrapped_companion_ephemeral")),
            wrappedPrimaryEphemeral: try unhex(field("wrapped_primary_ephemeral")),
            wrappedKeyBundle: try unhex(field("wrapped_key_bundle")), advSecret: try unhex(field("adv_secret")),
            keys: try keys.mapValues { try unhex($0) })
    }

    func key(_ name: String) throws -> [UInt8] {
        guard let value = keys[name] else { throw VectorError(message: "missing keys.\(name)") }
        return value
    }
}
