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

}
