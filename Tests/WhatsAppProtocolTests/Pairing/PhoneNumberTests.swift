import Testing
import WhatsAppProtocol

@Suite struct PhoneNumberTests {
    @Test(arguments: [
        "15550001111",  // the number in the whatsmeow transcripts
        "2901234",  // 7 digits: Saint Helena, the shortest international form
        "123456789012345",  // 15 digits: the E.164 maximum
        "447700900123",
    ])
    func acceptsInternationalDigits(text: String) throws {
        #expect(try PhoneNumber(validating: text).digits == text)
    }

    @Test(arguments: [
        ("", PhoneNumberError.Code.empty),
        ("+15550001111", .leadingPlus),
        ("+", .leadingPlus),
        ("1 555 000 1111", .nonDigit),
        ("1-555-000-1111", .nonDigit),
        ("(1)5550001111", .nonDigit),
        ("1555000111a", .nonDigit),
        ("155500011\u{0663}1", .nonDigit),  // Arabic-Indic three
        ("１5550001111", .nonDigit),  // full-width one
        ("15550001111\n", .nonDigit),
        ("05550001111", .leadingZero),
        ("0044123456", .leadingZero),
        ("123456", .tooShort),
        ("1", .tooShort),
        ("1234567890123456", .tooLong),
    ])
    func refuses(text: String, expected: PhoneNumberError.Code) {
        #expect(throws: PhoneNumberError(expected)) { try PhoneNumber(validating: text) }
    }

    @Test func boundsAreE164AndShortestNumbers() {
        #expect(PhoneNumber.maximumDigits == 15)
        #expect(PhoneNumber.minimumDigits == 7)
    }
}
