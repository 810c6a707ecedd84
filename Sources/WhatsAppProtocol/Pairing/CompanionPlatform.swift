/// The companion platform id ("CompanionWebClientType", linking spec §4.3): the QR's fifth field and the
/// `companion_platform_id` of `companion_hello`. The raw value is the id as sent.
///
/// Left out on purpose: `0` (unknown), which the server rejects, and the Android ids `d`/`e`/`f`, which need
/// server-side attestation (2026 addendum §C); whatsmeow's `c` (macOS) is only its fallback when no browser
/// platform type is known, and ours always is.
public enum CompanionPlatform: String, Sendable, CaseIterable {
    case chrome = "1"
    case edge = "2"
    case firefox = "3"
    case internetExplorer = "4"
    case opera = "5"
    case safari = "6"
    case electron = "7"
    case uwp = "8"
    case otherWebClient = "9"

    /// The id string as sent, e.g. `"1"`.
    public var id: String { rawValue }

    /// Maps a `DeviceProps.PlatformType` raw value (§2.5 numbering, which differs from the id numbering) to
    /// the id: the browsers to themselves, DESKTOP (7) to Electron, UWP (21) to UWP, the Android types
    /// (9, 16, 17) to Chrome as whatsapp-rust does (2026 §C), and everything else to "other web client".
    public init(devicePropsPlatformType: Int) {
        switch devicePropsPlatformType {
        case 1: self = .chrome
        case 2: self = .firefox
        case 3: self = .internetExplorer
        case 4: self = .opera
        case 5: self = .safari
        case 6: self = .edge
        case 7: self = .electron
        case 21: self = .uwp
        case 9, 16, 17: self = .chrome
        default: self = .otherWebClient
        }
    }

    /// The browser half of `companion_platform_display`. Non-browser ids say "Chrome": desktop shells run
    /// Chromium, and the server accepts only common browser names (§5.5).
    public var browserName: String {
        switch self {
        case .chrome: "Chrome"
        case .edge: "Edge"
        case .firefox: "Firefox"
        case .internetExplorer: "IE"
        case .opera: "Opera"
        case .safari: "Safari"
        case .electron, .uwp, .otherWebClient: "Chrome"
        }
    }

    /// `companion_platform_display`: `"<Browser> (<OS>)"`, e.g. `"Chrome (Linux)"` (§5.5, 2026 §C.2).
    public func display(os: CompanionOS) -> String {
        "\(browserName) (\(os.rawValue))"
    }
}

/// The OS half of `companion_platform_display`. The server refuses `companion_hello` with 400 when it is not
/// a real OS name (2026 §C.2), so it is one of these five spellings (the ones WhatsApp Web's UA parser
/// reports). The raw value is the spelling sent.
public enum CompanionOS: String, Sendable, CaseIterable {
    case windows = "Windows"
    case macOS = "Mac OS"
    case linux = "Linux"
    case android = "Android"
    case iOS = "iOS"

    /// Picks the OS a free-form hint (a configured name, `DeviceProps.os`) most likely means,
    /// case-insensitively; anything unrecognised, including branding like "walink", becomes Linux.
    public init(hint: String) {
        let text = hint.lowercased()
        let words = text.split { !($0.isLetter || $0.isNumber) }
        if text.contains("windows") || words.contains(where: { $0 == "win32" || $0 == "win64" }) {
            self = .windows
        } else if text.contains("mac") || text.contains("darwin") || text.contains("os x") || text.contains("osx") {
            self = .macOS
        } else if text.contains("iphone") || text.contains("ipad") || words.contains("ios") {
            self = .iOS
        } else if text.contains("android") {
            self = .android
        } else {
            self = .linux
        }
    }
}
