extension BinaryNode {
    /// An attribute value: text, or a typed address (written as JID_PAIR/AD_JID/... on the wire).
    public enum AttributeValue: Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        case string(String)
        case jid(JID)

        public init(stringLiteral value: String) {
            self = .string(value)
        }

        /// The value as text; a JID rendered with ``JID/description``.
        public var text: String {
            switch self {
            case .string(let string): string
            case .jid(let jid): jid.description
            }
        }

        /// The value as a JID: a typed JID as is; a string if it contains `@` and parses, or is a bare
        /// well-known server name such as `s.whatsapp.net` (so `id="ps-1"` is not mistaken for a server).
        public var jid: JID? {
            switch self {
            case .jid(let jid): jid
            case .string(let string):
                string.contains("@") || JID.Server.wellKnown.contains(string) ? JID(string) : nil
            }
        }

        public var description: String { text }
    }

    /// One `key="value"` pair.
    public struct Attribute: Hashable, Sendable {
        public var key: String
        public var value: AttributeValue

        public init(key: String, value: AttributeValue) {
            self.key = key
            self.value = value
        }
    }

    /// Attributes in wire order, looked up by key. A dictionary literal keeps its written order.
    /// Keys are expected to be unique; decoded input may repeat one, and lookups then see the first.
    public struct Attributes: Hashable, Sendable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
        private var pairs: [Attribute]

        public init(_ pairs: [Attribute] = []) {
            self.pairs = pairs
        }

        public init(dictionaryLiteral elements: (String, AttributeValue)...) {
            pairs = elements.map { Attribute(key: $0.0, value: $0.1) }
        }

        public var startIndex: Int { pairs.startIndex }
        public var endIndex: Int { pairs.endIndex }
        public subscript(position: Int) -> Attribute { pairs[position] }

        /// The first value for `key`. Setting replaces the first `key` in place (or appends a new one);
        /// setting nil removes every `key`.
        public subscript(key: String) -> AttributeValue? {
            get { pairs.first { $0.key == key }?.value }
            set {
                guard let newValue else {
                    pairs.removeAll { $0.key == key }
                    return
                }
                if let index = pairs.firstIndex(where: { $0.key == key }) {
                    pairs[index].value = newValue
                } else {
                    pairs.append(Attribute(key: key, value: newValue))
                }
            }
        }

        mutating func append(_ attribute: Attribute) {
            pairs.append(attribute)
        }

        mutating func reserveCapacity(_ count: Int) {
            pairs.reserveCapacity(count)
        }
    }
}
