/// A value in an AMQP field table (message headers, queue arguments, client properties).
///
/// Not `indirect`: arrays and tables keep their elements on the heap already, and an indirect enum
/// would box every value, each message's headers included, in an allocation of its own.
public enum AMQPFieldValue: Sendable, Hashable {
    case bool(Bool)
    case int8(Int8)
    case uint8(UInt8)
    case int16(Int16)
    case uint16(UInt16)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case float(Float)
    case double(Double)
    case decimal(decimals: UInt8, value: UInt32)
    /// A long string. AMQP long strings are byte strings; they need not be UTF-8.
    case bytes([UInt8])
    case array([AMQPFieldValue])
    case table(AMQPTable)
    case timestamp(UInt64)
    case void

    /// A UTF-8 long string.
    public static func string(_ value: String) -> AMQPFieldValue { .bytes(Array(value.utf8)) }

    /// The value as text when it is a valid UTF-8 long string.
    public var stringValue: String? {
        guard case .bytes(let bytes) = self else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }

    /// The value as an integer when it is any integer kind that fits.
    public var intValue: Int? {
        switch self {
        case .int8(let v): Int(v)
        case .uint8(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int64(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        default: nil
        }
    }
}

/// An AMQP field table. Order is kept as received; keys are byte strings in AMQP, text here.
public struct AMQPTable: Sendable, Hashable, ExpressibleByDictionaryLiteral, Sequence {
    public var entries: [(key: String, value: AMQPFieldValue)]

    public init(_ entries: [(key: String, value: AMQPFieldValue)] = []) { self.entries = entries }

    public init(dictionaryLiteral elements: (String, AMQPFieldValue)...) {
        entries = elements.map { (key: $0.0, value: $0.1) }
    }

    /// The first value stored under `key`, or nil. Setting replaces it (or appends a new entry).
    public subscript(key: String) -> AMQPFieldValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append((key: key, value: newValue))
            }
        }
    }

    public var isEmpty: Bool { entries.isEmpty }

    public func makeIterator() -> some IteratorProtocol<(key: String, value: AMQPFieldValue)> {
        entries.makeIterator()
    }

    public static func == (lhs: AMQPTable, rhs: AMQPTable) -> Bool {
        lhs.entries.count == rhs.entries.count
            && zip(lhs.entries, rhs.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for entry in entries {
            hasher.combine(entry.key)
            hasher.combine(entry.value)
        }
    }
}
