import Foundation
import SwiftProtobuf

/// The set of fields a protobuf message has set, as dotted field-number paths ("5.2.1" =
/// userAgent.appVersion.primary), recursing into sub-messages. Values are ignored: this compares shapes.
struct FieldPresence: Visitor {
    private(set) var paths: Set<String> = []
    private let prefix: String

    private init(prefix: String) { self.prefix = prefix }

    static func paths(of message: some Message, prefix: String = "") throws -> Set<String> {
        var visitor = FieldPresence(prefix: prefix)
        try message.traverse(visitor: &visitor)
        return visitor.paths
    }

    private mutating func record(_ fieldNumber: Int) { paths.insert(prefix + String(fieldNumber)) }

    mutating func visitSingularDoubleField(value: Double, fieldNumber: Int) throws { record(fieldNumber) }
    mutating func visitSingularInt64Field(value: Int64, fieldNumber: Int) throws { record(fieldNumber) }
    mutating func visitSingularUInt64Field(value: UInt64, fieldNumber: Int) throws { record(fieldNumber) }
    mutating func visitSingularBoolField(value: Bool, fieldNumber: Int) throws { record(fieldNumber) }
    mutating func visitSingularStringField(value: String, fieldNumber: Int) throws { record(fieldNumber) }
    mutating func visitSingularBytesField(value: Data, fieldNumber: Int) throws { record(fieldNumber) }
    mutating func visitSingularEnumField<E: Enum>(value: E, fieldNumber: Int) throws { record(fieldNumber) }
    mutating func visitSingularMessageField<M: Message>(value: M, fieldNumber: Int) throws {
        record(fieldNumber)
        paths.formUnion(try Self.paths(of: value, prefix: "\(prefix)\(fieldNumber)."))
    }
    mutating func visitSingularGroupField<G: Message>(value: G, fieldNumber: Int) throws {
        try visitSingularMessageField(value: value, fieldNumber: fieldNumber)
    }
    mutating func visitMapField<KeyType, ValueType: MapValueType>(
        fieldType: _ProtobufMap<KeyType, ValueType>.Type, value: _ProtobufMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws { record(fieldNumber) }
    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufEnumMap<KeyType, ValueType>.Type, value: _ProtobufEnumMap<KeyType, ValueType>.BaseType,
        fieldNumber: Int
    ) throws where ValueType.RawValue == Int { record(fieldNumber) }
    mutating func visitMapField<KeyType, ValueType>(
        fieldType: _ProtobufMessageMap<KeyType, ValueType>.Type,
        value: _ProtobufMessageMap<KeyType, ValueType>.BaseType, fieldNumber: Int
    ) throws { record(fieldNumber) }
    /// Unknown fields are recorded as such so a payload with fields our schema lacks cannot compare equal.
    mutating func visitUnknown(bytes: Data) throws { paths.insert(prefix + "?") }
}
