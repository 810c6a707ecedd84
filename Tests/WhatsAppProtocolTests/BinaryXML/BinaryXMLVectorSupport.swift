import Foundation
import TestRandom

@testable import WhatsAppProtocol

/// JSON with object keys kept in file order: the vector files list attributes in wire order, and
/// Foundation's JSON parsers do not keep it.
indirect enum OrderedJSON: Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([OrderedJSON])
    case object([(String, OrderedJSON)])

    static func == (lhs: OrderedJSON, rhs: OrderedJSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: false
        }
    }

    subscript(key: String) -> OrderedJSON? {
        if case .object(let pairs) = self { pairs.first { $0.0 == key }?.1 } else { nil }
    }

    var string: String? {
        if case .string(let string) = self { string } else { nil }
    }

    var array: [OrderedJSON]? {
        if case .array(let array) = self { array } else { nil }
    }

    static func parse(_ text: String) throws -> OrderedJSON {
        var parser = Parser(scalars: Array(text.unicodeScalars))
        let value = try parser.value()
        parser.skipSpace()
        guard parser.index == parser.scalars.count else { throw VectorError(message: "trailing JSON") }
        return value
    }

    /// Lines of a `.jsonl` vector file.
    static func lines(_ name: String) throws -> [OrderedJSON] {
        let text = String(decoding: try Vectors.data(name), as: UTF8.self)
        return try text.split(separator: "\n").map { try parse(String($0)) }
    }

    static func file(_ name: String) throws -> OrderedJSON {
        try parse(String(decoding: try Vectors.data(name), as: UTF8.self))
    }

    private struct Parser {
        let scalars: [Unicode.Scalar]
        var index = 0

        mutating func skipSpace() {
            while index < scalars.count, [" ", "\n", "\r", "\t"].contains(scalars[index]) { index += 1 }
        }

        mutating func next() throws -> Unicode.Scalar {
            guard index < scalars.count else { throw VectorError(message: "JSON ends early") }
            defer { index += 1 }
            return scalars[index]
        }

        mutating func expect(_ word: String) throws {
            for scalar in word.unicodeScalars where try next() != scalar {
                throw VectorError(message: "bad JSON literal")
            }
        }

        mutating func value() throws -> OrderedJSON {
            skipSpace()
            guard index < scalars.count else { throw VectorError(message: "JSON ends early") }
            switch scalars[index] {
            case "n":
                try expect("null")
                return .null
            case "t":
                try expect("true")
                return .bool(true)
            case "f":
                try expect("false")
                return .bool(false)
            case "\"": return .string(try string())
            case "[":
                index += 1
                var items: [OrderedJSON] = []
                skipSpace()
                if scalars[index] == "]" {
                    index += 1
                    return .array(items)
                }
                while true {
                    items.append(try value())
                    skipSpace()
                    let separator = try next()
                    if separator == "]" { return .array(items) }
                    guard separator == "," else { throw VectorError(message: "bad JSON array") }
                }
            case "{":
                index += 1
                var pairs: [(String, OrderedJSON)] = []
                skipSpace()
                if scalars[index] == "}" {
                    index += 1
                    return .object(pairs)
                }
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    guard try next() == ":" else { throw VectorError(message: "bad JSON object") }
                    pairs.append((key, try value()))
                    skipSpace()
                    let separator = try next()
                    if separator == "}" { return .object(pairs) }
                    guard separator == "," else { throw VectorError(message: "bad JSON object") }
                }
            default:
                var number = ""
                while index < scalars.count, "+-0123456789.eE".unicodeScalars.contains(scalars[index]) {
                    number.unicodeScalars.append(scalars[index])
                    index += 1
                }
                guard !number.isEmpty else { throw VectorError(message: "bad JSON value") }
                return .number(number)
            }
        }

        mutating func string() throws -> String {
            guard try next() == "\"" else { throw VectorError(message: "expected JSON string") }
            var out = String.UnicodeScalarView()
            var pendingHigh: UInt32?
            while true {
                let scalar = try next()
                if scalar == "\"" { return String(out) }
                guard scalar == "\\" else {
                    out.append(scalar)
                    continue
                }
                let escape = try next()
                switch escape {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "b": out.append("\u{8}")
                case "f": out.append("\u{c}")
                case "u":
                    var code: UInt32 = 0
                    for _ in 0..<4 {
                        guard let digit = UInt32(String(try next()), radix: 16) else {
                            throw VectorError(message: "bad JSON \\u escape")
                        }
                        code = code << 4 | digit
                    }
                    if (0xD800..<0xDC00).contains(code) {
                        pendingHigh = code
                    } else if let high = pendingHigh, (0xDC00..<0xE000).contains(code) {
                        out.append(Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))!)
                        pendingHigh = nil
                    } else {
                        guard let decoded = Unicode.Scalar(code) else { throw VectorError(message: "bad scalar") }
                        out.append(decoded)
                    }
                default: out.append(escape)
                }
            }
        }
    }
}

/// How the vector files show nodes, and how to turn that back into typed nodes.
enum VectorNodes {
    /// A node from its JSON form. Attribute values (and string content) containing `@` become typed JIDs:
    /// the vector bytes show every such value as JID_PAIR/AD_JID, and every other value as a string.
    static func node(from json: OrderedJSON) throws -> BinaryNode {
        guard let tag = json["tag"]?.string, case .object(let attrs)? = json["attrs"] else {
            throw VectorError(message: "node without tag/attrs")
        }
        var attributes = BinaryNode.Attributes()
        for (key, value) in attrs {
            guard let text = value.string else { throw VectorError(message: "non-string attribute") }
            attributes[key] = try attributeValue(text)
        }
        let content: BinaryNode.Content
        switch json["content"] {
        case .null?, nil:
            content = .none
        case .array(let children)?:
            content = .nodes(try children.map(node(from:)))
        case .string(let text)?:
            if case .jid(let jid) = try attributeValue(text) { content = .jid(jid) } else { content = .string(text) }
        case let object?:
            guard let hexText = object["hex"]?.string else { throw VectorError(message: "unknown content") }
            content = .bytes(try unhex(hexText))
        }
        return BinaryNode(tag, attributes, content)
    }

    private static func attributeValue(_ text: String) throws -> BinaryNode.AttributeValue {
        guard text.contains("@") else { return .string(text) }
        guard let jid = JID(text) else { throw VectorError(message: "unparseable JID \(text)") }
        return .jid(jid)
    }

    /// A decoded node in the vector files' JSON form: attributes as strings (JIDs rendered, the server JID
    /// as `@s.whatsapp.net`), byte content as `{"hex": ...}`.
    static func json(of node: BinaryNode) -> OrderedJSON {
        let attrs = node.attributes.map { ($0.key, OrderedJSON.string($0.value.text)) }
        let content: OrderedJSON
        switch node.content {
        case .none: content = .null
        case .nodes(let children): content = .array(children.map(json(of:)))
        case .bytes(let bytes): content = .object([("hex", .string(hex(bytes)))])
        case .string(let string): content = .string(string)
        case .jid(let jid): content = .string(jid.description)
        }
        return .object([("tag", .string(node.tag)), ("attrs", .object(attrs)), ("content", content)])
    }

    /// Every attribute value in a node tree, depth first.
    static func allAttributeValues(_ node: BinaryNode) -> [BinaryNode.AttributeValue] {
        node.attributes.map(\.value) + node.children.flatMap(allAttributeValues)
    }

    /// The transcript lines that carry a node and its bytes.
    static func transcriptFrames() throws -> [(file: String, direction: String, node: OrderedJSON, raw: [UInt8])] {
        var frames: [(String, String, OrderedJSON, [UInt8])] = []
        let directory = Vectors.directory.appendingPathComponent("whatsmeow-transcripts")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".jsonl") }.sorted()
        for file in files {
            for line in try OrderedJSON.lines("whatsmeow-transcripts/" + file) {
                guard let direction = line["dir"]?.string, direction == "client->server" || direction == "server->client",
                    let rawHex = line["raw_hex"]?.string, let node = line["node"]
                else { continue }
                frames.append((file, direction, node, try unhex(rawHex)))
            }
        }
        return frames
    }
}

/// SplitMix64: a tiny seeded generator so fuzz failures reproduce.
typealias BinaryFuzzRandom = SeededRandom
