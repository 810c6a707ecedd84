import JSON

/// Finds a configured claim in a token's claims. The name is first looked up as a top-level
/// claim; if there is none, it is read as a dotted path, where each step may itself contain dots
/// (namespaced claims are URLs): `https://example.com/claims.org` finds
/// `{"https://example.com/claims": {"org": "..."}}`.
enum ClaimPath {
    static func value(_ path: String, in object: JSONObject) -> JSONValue? {
        if let direct = object[path] { return direct }
        var searchFrom = path.startIndex
        while let dot = path[searchFrom...].firstIndex(of: ".") {
            let rest = path[path.index(after: dot)...]
            if !rest.isEmpty, let nested = object[String(path[..<dot])]?.objectValue,
                let found = value(String(rest), in: nested)
            {
                return found
            }
            searchFrom = path.index(after: dot)
        }
        return nil
    }
}
