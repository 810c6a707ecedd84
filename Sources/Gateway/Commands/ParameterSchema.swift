/// The parameters a command accepts, checked before the handler runs so every handler sees
/// well-typed input and every caller gets a 400 naming the offending field.
public struct ParameterSchema: Sendable {
    public enum Kind: Sendable {
        case string(pattern: StringRule = .any, maxLength: Int = 1024)
        case integer(range: ClosedRange<Int64>)
        case boolean

        var typeName: String {
            switch self {
            case .string: "string"
            case .integer: "integer"
            case .boolean: "boolean"
            }
        }
    }

    /// A check on string values, with the reason a caller sees when it fails.
    public struct StringRule: Sendable {
        public let reason: String
        public let accepts: @Sendable (String) -> Bool

        public init(reason: String, accepts: @escaping @Sendable (String) -> Bool) {
            self.reason = reason
            self.accepts = accepts
        }

        public static let any = StringRule(reason: "") { _ in true }
    }

    public struct Field: Sendable {
        public let name: String
        public let kind: Kind
        public let required: Bool

        public init(_ name: String, _ kind: Kind, required: Bool = false) {
            self.name = name
            self.kind = kind
            self.required = required
        }
    }

    public let fields: [Field]

    public init(_ fields: [Field] = []) { self.fields = fields }

    public static let empty = ParameterSchema()

    /// Checks `object`: unknown fields, missing required ones, wrong types, rule violations.
    public func validate(_ object: JSONObject) throws(GatewayError) {
        for key in object.keys where !fields.contains(where: { $0.name == key }) {
            throw .invalidField(key, "unknown field", extra: ["allowed": .array(fields.map { .string($0.name) })])
        }
        for field in fields {
            guard let value = object[field.name], value != .null else {
                if field.required { throw .invalidField(field.name, "required") }
                continue
            }
            switch (field.kind, value) {
            case (.string(let rule, let maxLength), .string(let text)):
                guard text.utf8.count <= maxLength else {
                    throw .invalidField(field.name, "longer than \(maxLength) bytes", extra: ["maxLength": .int(Int64(maxLength))])
                }
                guard rule.accepts(text) else { throw .invalidField(field.name, rule.reason) }
            case (.integer(let range), .int(let number)):
                guard range.contains(number) else {
                    throw .invalidField(field.name, "out of range \(range.lowerBound)...\(range.upperBound)")
                }
            case (.boolean, .bool):
                break
            default:
                throw .invalidField(
                    field.name, "must be of type \(field.kind.typeName), not \(value.typeName)", extra: ["expected": .string(field.kind.typeName)])
            }
        }
    }
}
