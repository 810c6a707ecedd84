extension BinaryXMLTokens {
    /// Where a token string sits in the tables.
    enum Token: Hashable, Sendable {
        /// Written as the one byte `index` (1...235).
        case single(UInt8)
        /// Written as `236 + dictionary`, then `index`.
        case double(dictionary: UInt8, index: UInt8)
    }

    /// String → token, built once from the tables.
    private static let tokensByString: [String: Token] = {
        var map: [String: Token] = [:]
        map.reserveCapacity(singleByte.count + doubleByte.count * 256)
        for (index, string) in singleByte.enumerated() where index > 0 {
            map[string] = .single(UInt8(index))
        }
        for (dictionary, table) in doubleByte.enumerated() {
            for (index, string) in table.enumerated() {
                map[string] = .double(dictionary: UInt8(dictionary), index: UInt8(index))
            }
        }
        return map
    }()

    /// The longest token in UTF-8 bytes: longer strings skip the hash lookup.
    private static let longestToken: Int = {
        (singleByte + doubleByte.joined()).map(\.utf8.count).max() ?? 0
    }()

    /// The token for `string`, if it is one.
    static func token(for string: String) -> Token? {
        let length = string.utf8.count
        guard length > 0, length <= longestToken else { return nil }
        return tokensByString[string]
    }

    /// The single-byte token for tag byte `index` (1...235), or nil.
    static func single(_ index: UInt8) -> String? {
        index > 0 && Int(index) < singleByte.count ? singleByte[Int(index)] : nil
    }

    /// The double-byte token `index` of `dictionary` (0...3), or nil.
    static func double(dictionary: Int, index: UInt8) -> String? {
        doubleByte.indices.contains(dictionary) ? doubleByte[dictionary][Int(index)] : nil
    }
}
