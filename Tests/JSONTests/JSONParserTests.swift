import JSON
import Testing

/// The one strict JSON parser every untrusted input goes through (command bodies, token parts,
/// key sets).
@Suite struct JSONParserTests {
    @Test func readsEveryKindOfValue() throws {
        let text = #" { "a" : [1, -2.5e3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {} , "c": [] } "#
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(
            value == [
                "a": [.int(1), .double(-2500), true, false, .null, .string("x\"\\/\u{8}\u{C}\n\r\té😀")],
                "b": .object([:]),
                "c": [],
            ])
        #expect(try JSONParser.parse(Array("\"é\"".utf8)) == .string("é"))
        #expect(try JSONParser.parse(Array("0".utf8)) == .int(0))
        #expect(try JSONParser.parse(Array("9223372036854775808".utf8)) == .double(9_223_372_036_854_775_808))
        #expect(try JSONParser.parse(Array("{\"b\":1,\"a\":2}".utf8)).objectValue?.keys == ["b", "a"])
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "'a'", "01", "1.", ".5", "-", "+1", "1e",
        "NaN", "Infinity", "1e400", "tru", "nul", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
        "\"\u{1}\"", "\"abc", "{\"a\":1}{", "{\"a\":1,\"a\":2}", "[1] 2", "\"\\ud800\\u0041\"",
        String(repeating: "1", count: 65),
    ])
    func refusesWhatIsNotStrictJSON(_ text: String) {
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func refusesInvalidUTF8AndSaysWhere() throws {
        let error = #expect(throws: JSONParser.Failure.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(error?.reason.contains("UTF-8") == true)
        let duplicate = #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array("{\"a\":1,\"a\":2}".utf8)) }
        #expect(duplicate?.offset == 7)
    }

    @Test func limitsDepth() throws {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        _ = try JSONParser.parse(Array(ok.utf8), maxDepth: 32)
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(deep.utf8), maxDepth: 32) }
        let hostile = String(repeating: "{\"a\":[", count: 500_000)
        #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(Array(hostile.utf8)) }
    }

    @Test func serializationRoundTrips() throws {
        let value: JSONValue = [
            "text": "quote \" backslash \\ newline \n tab \t control \u{1} emoji 😀", "int": -42, "double": 1.5,
            "flag": false, "nothing": nil, "list": [1, "two", [3]], "nested": ["deep": ["deeper": [:]]],
        ]
        #expect(try JSONParser.parse(value.serialized) == value)
        #expect(try JSONParser.parse(Array(value.prettyText.utf8)) == value)
        #expect(JSONValue.string("\u{1}").text == "\"\\u0001\"")
    }

    @Test func randomBytesNeverCrashTheParser() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("{}[],:\"\\ntrufalse0123456789.eE+-u ".utf8)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...64, using: &generator)
            let bytes = (0..<length).map { _ in
                Bool.random(using: &generator) ? alphabet.randomElement(using: &generator)! : UInt8.random(in: 0...255, using: &generator)
            }
            if let value = try? JSONParser.parse(bytes) {
                // Whatever parses serializes to something that parses to the same value.
                #expect(try JSONParser.parse(value.serialized) == value)
            }
        }
    }
}
