import Foundation
import Gateway

/// A JSON Schema (draft 2020-12) validator for the subset `schemas/` uses: `type`, `properties`,
/// `required`, `additionalProperties`, `items`, `enum`, `const`, `pattern`, `minLength`,
/// `maxLength`, `minimum`, `maximum`, `minItems`, `maxItems`, `$ref` (within a file and to other
/// files of `schemas/`), `allOf`, `anyOf`, `oneOf`, `not`. Keywords it does not know make it fail
/// loudly, so a schema can't silently rely on something unchecked.
public struct SchemaValidator {
    public struct Failure: Error, CustomStringConvertible {
        public let problems: [String]
        public var description: String { problems.joined(separator: "\n") }
    }

    /// `schemas/` in the package.
    public static let directory = TestBroker.packageRoot.appendingPathComponent("schemas")

    private static let known: Set<String> = [
        "$schema", "$id", "$defs", "$ref", "$comment", "title", "description", "examples", "default", "format",
        "type", "properties", "required", "additionalProperties", "items", "enum", "const", "pattern",
        "minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "allOf", "anyOf", "oneOf", "not",
    ]

    private var documents: [String: JSONValue] = [:]

    public init() {}

    /// Validates `value` against a schema in `schemas/`, named as a file optionally followed by a
    /// JSON pointer (`commands/worker.ping.json#/$defs/response`); throws the problems found.
    public mutating func validate(_ value: JSONValue, against name: String) throws {
        let (schema, file) = try resolve(name, from: "")
        var problems: [String] = []
        try check(value, schema, file: file, path: "$", problems: &problems)
        if !problems.isEmpty { throw Failure(problems: problems) }
    }

    private mutating func document(_ name: String) throws -> JSONValue {
        if let cached = documents[name] { return cached }
        let data = try Data(contentsOf: Self.directory.appendingPathComponent(name))
        let parsed = try JSONParser.parse(Array(data))
        documents[name] = parsed
        return parsed
    }

    private mutating func resolve(_ reference: String, from file: String) throws -> (JSONValue, String) {
        let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        var target = file
        if let first = parts.first, !first.isEmpty {
            let base = (file as NSString).deletingLastPathComponent
            target = ((base.isEmpty ? "" : base + "/") + String(first) as NSString).standardizingPath
            if target.hasPrefix("/") { target.removeFirst() }
        }
        var node = try document(target)
        if parts.count == 2 {
            for component in parts[1].split(separator: "/") where !component.isEmpty {
                guard let next = node.objectValue?[String(component)] else {
                    throw Failure(problems: ["unresolvable $ref \(reference) in \(file)"])
                }
                node = next
            }
        }
        return (node, target)
    }

    private mutating func check(_ value: JSONValue, _ schema: JSONValue, file: String, path: String, problems: inout [String]) throws {
        if case .bool(let allowed) = schema {
            if !allowed { problems.append("\(path): not allowed") }
            return
        }
        guard let schema = schema.objectValue else { throw Failure(problems: ["schema at \(path) in \(file) is not an object"]) }
        for key in schema.keys where !Self.known.contains(key) {
            throw Failure(problems: ["unsupported keyword \(key) in \(file)"])
        }
        if let reference = schema["$ref"]?.stringValue {
            let (target, targetFile) = try resolve(reference, from: file)
            try check(value, target, file: targetFile, path: path, problems: &problems)
        }
        if let type = schema["type"] {
            let allowed: [String] = type.stringValue.map { [$0] } ?? (type.arrayValue?.compactMap(\.stringValue) ?? [])
            let actual = value.typeName
            let matches = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"))
            if !matches {
                problems.append("\(path): expected \(allowed.joined(separator: "|")), got \(actual)")
                return
            }
        }
        if let options = schema["enum"]?.arrayValue, !options.contains(value) {
            problems.append("\(path): \(value.text) not in enum")
        }
        if let constant = schema["const"], constant != value {
            problems.append("\(path): expected \(constant.text)")
        }
        if case .string(let text) = value {
            if let pattern = schema["pattern"]?.stringValue {
                let regex = try NSRegularExpression(pattern: pattern)
                if regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) == nil {
                    problems.append("\(path): \"\(text.prefix(40))\" does not match \(pattern)")
                }
            }
            if case .int(let minimum)? = schema["minLength"], text.count < minimum { problems.append("\(path): shorter than \(minimum)") }
            if case .int(let maximum)? = schema["maxLength"], text.count > maximum { problems.append("\(path): longer than \(maximum)") }
        }
        if let number = value.numberValue {
            if let minimum = schema["minimum"]?.numberValue, number < minimum { problems.append("\(path): below \(minimum)") }
            if let maximum = schema["maximum"]?.numberValue, number > maximum { problems.append("\(path): above \(maximum)") }
        }
        if case .array(let items) = value {
            if case .int(let minimum)? = schema["minItems"], items.count < minimum { problems.append("\(path): fewer than \(minimum) items") }
            if case .int(let maximum)? = schema["maxItems"], items.count > maximum { problems.append("\(path): more than \(maximum) items") }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() {
                    try check(item, itemSchema, file: file, path: "\(path)[\(index)]", problems: &problems)
                }
            }
        }
        if case .object(let object) = value {
            let properties = schema["properties"]?.objectValue ?? JSONObject()
            for required in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where object[required] == nil {
                problems.append("\(path): missing \(required)")
            }
            for (key, member) in object {
                if let propertySchema = properties[key] {
                    try check(member, propertySchema, file: file, path: "\(path).\(key)", problems: &problems)
                } else if let additional = schema["additionalProperties"] {
                    try check(member, additional, file: file, path: "\(path).\(key)", problems: &problems)
                }
            }
        }
        for sub in schema["allOf"]?.arrayValue ?? [] {
            try check(value, sub, file: file, path: path, problems: &problems)
        }
        if let anyOf = schema["anyOf"]?.arrayValue {
            var passed = false
            for sub in anyOf {
                var inner: [String] = []
                try check(value, sub, file: file, path: path, problems: &inner)
                if inner.isEmpty { passed = true }
            }
            if !passed { problems.append("\(path): matches none of anyOf") }
        }
        if let oneOf = schema["oneOf"]?.arrayValue {
            var passes = 0
            for sub in oneOf {
                var inner: [String] = []
                try check(value, sub, file: file, path: path, problems: &inner)
                if inner.isEmpty { passes += 1 }
            }
            if passes != 1 { problems.append("\(path): matches \(passes) of oneOf, expected exactly 1") }
        }
        if let not = schema["not"] {
            var inner: [String] = []
            try check(value, not, file: file, path: path, problems: &inner)
            if inner.isEmpty { problems.append("\(path): matches a schema it must not") }
        }
    }
}
