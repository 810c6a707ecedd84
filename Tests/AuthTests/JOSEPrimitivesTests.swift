import Foundation
import Testing

@testable import Auth

/// The small JOSE building blocks: strict base64url and the strict JSON reader.
@Suite struct JOSEPrimitivesTests {
    @Test func base64URLRoundTripsAndIsStrict() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64URL.decode(base64URL(bytes)) == bytes)
        }
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        for bad in ["a", "abcde", "ab==", "a+b/", "ab c", "ab\n", "AB", "AAB", "é"] {
            #expect(Base64URL.decode(bad) == nil, "\(bad)")
        }
        #expect(Base64URL.decode("AA") == [0])  // canonical trailing bits
        #expect(Base64URL.decode("AAA") == [0, 0])
    }

    @Test func jsonReaderReadsWhatTokensContain() throws {
        let text = #" { "a" : [1, -2.5e3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {} , "c": [] } "#
        let value = try JSONReader.parse(Array(text.utf8))
        #expect(value == .object([
            "a": .array([.number(1), .number(-2500), .bool(true), .bool(false), .null, .string("x\"\\/\u{8}\u{C}\n\r\té😀")]),
            "b": .object([:]),
            "c": .array([]),
        ]))
        #expect(try JSONReader.parse(Array("\"é\"".utf8)) == .string("é"))
        #expect(try JSONReader.parse(Array("0".utf8)) == .number(0))
    }

    @Test func jsonReaderRefusesWhatIsNotStrictJSON() {
        let bad = [
            "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "'a'", "01", "1.", ".5", "-", "+1", "1e",
            "NaN", "Infinity", "1e400", "tru", "nul", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"",
            "\"\u{1}\"", "\"abc", "{\"a\":1}{", "{\"a\":1,\"a\":2}", "[1] 2", "\"\\ud800\\u0041\"",
        ]
        for text in bad {
            #expect(throws: JSONReader.Failure.self, "\(text)") { try JSONReader.parse(Array(text.utf8)) }
        }
        #expect(throws: JSONReader.Failure.self) { try JSONReader.parse([0x22, 0xC3, 0x28, 0x22]) }  // bad UTF-8
    }

    @Test func jsonReaderLimitsDepth() throws {
        let ok = String(repeating: "[", count: 32) + String(repeating: "]", count: 32)
        _ = try JSONReader.parse(Array(ok.utf8), maxDepth: 32)
        let deep = String(repeating: "[", count: 33) + String(repeating: "]", count: 33)
        #expect(throws: JSONReader.Failure.self) { try JSONReader.parse(Array(deep.utf8), maxDepth: 32) }
        let hostile = String(repeating: "{\"a\":[", count: 500_000)
        #expect(throws: JSONReader.Failure.self) { try JSONReader.parse(Array(hostile.utf8)) }
    }
}
