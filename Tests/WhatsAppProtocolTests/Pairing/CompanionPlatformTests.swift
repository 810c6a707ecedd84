import Testing
import WhatsAppProtocol

@Suite struct CompanionPlatformTests {
    /// Linking spec §4.3's table.
    @Test func idsMatchTheSpecTable() {
        let expected: [(CompanionPlatform, String)] = [
            (.chrome, "1"), (.edge, "2"), (.firefox, "3"), (.internetExplorer, "4"), (.opera, "5"),
            (.safari, "6"), (.electron, "7"), (.uwp, "8"), (.otherWebClient, "9"),
        ]
        for (platform, id) in expected { #expect(platform.id == id) }
        #expect(CompanionPlatform.allCases.count == expected.count)
    }

    /// DeviceProps.PlatformType numbers (§2.5) map to the §4.3 ids, not to equal numbers.
    @Test(arguments: [
        (1, CompanionPlatform.chrome), (2, .firefox), (3, .internetExplorer), (4, .opera), (5, .safari), (6, .edge),
        (7, .electron), (21, .uwp), (16, .chrome), (9, .chrome), (17, .chrome),
        (0, .otherWebClient), (8, .otherWebClient), (14, .otherWebClient), (24, .otherWebClient), (999, .otherWebClient),
    ])
    func mapsDevicePropsPlatformType(raw: Int, expected: CompanionPlatform) {
        #expect(CompanionPlatform(devicePropsPlatformType: raw) == expected)
    }

    /// whatsmeow's `companion_hello` in `code-conn1.jsonl` sent id "3" with display "Firefox (Linux)".
    @Test func matchesTheWhatsmeowTranscript() throws {
        let lines = try Vectors.jsonLines("whatsmeow-transcripts/code-conn1.jsonl")
        let hello = try #require(
            lines.first { line in
                let node = line["node"] as? [String: Any]
                let content = node?["content"] as? [[String: Any]]
                return (content?.first?["attrs"] as? [String: String])?["stage"] == "companion_hello"
            })
        let node = try #require(hello["node"] as? [String: Any])
        let reg = try #require((node["content"] as? [[String: Any]])?.first)
        let children = try #require(reg["content"] as? [[String: Any]])
        func child(_ tag: String) throws -> Any? { try #require(children.first { $0["tag"] as? String == tag })["content"] }
        let id = try #require(try child("companion_platform_id") as? String)
        let displayHex = try #require((try child("companion_platform_display") as? [String: String])?["hex"])
        let display = String(decoding: try unhex(displayHex), as: UTF8.self)
        #expect(CompanionPlatform.firefox.id == id)
        #expect(CompanionPlatform.firefox.display(os: .linux) == display)
    }

    @Test func displayIsBrowserThenOSInBrackets() {
        #expect(CompanionPlatform.chrome.display(os: .linux) == "Chrome (Linux)")
        #expect(CompanionPlatform.safari.display(os: .macOS) == "Safari (Mac OS)")
        #expect(CompanionPlatform.internetExplorer.display(os: .windows) == "IE (Windows)")
        #expect(CompanionPlatform.electron.display(os: .windows) == "Chrome (Windows)")
        #expect(CompanionPlatform.otherWebClient.display(os: .android) == "Chrome (Android)")
        #expect(CompanionPlatform.edge.display(os: .iOS) == "Edge (iOS)")
    }

    @Test(arguments: [
        ("Windows 11", CompanionOS.windows), ("win32", .windows), ("Mac OS", .macOS), ("macOS", .macOS),
        ("Darwin", .macOS), ("Mac OS X", .macOS), ("iOS", .iOS), ("iPadOS", .iOS), ("iPhone", .iOS),
        ("Android", .android), ("Linux", .linux), ("Ubuntu", .linux), ("", .linux), ("walink", .linux),
        ("KaiOS", .linux), ("whatsmeow", .linux),
    ])
    func osFromHint(hint: String, expected: CompanionOS) {
        #expect(CompanionOS(hint: hint) == expected)
    }
}
