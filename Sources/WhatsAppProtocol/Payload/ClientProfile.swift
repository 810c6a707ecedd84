/// How walink describes itself to WhatsApp in the ClientPayload: the WhatsApp Web version it speaks and the
/// browser/OS the phone lists under "Linked devices".
///
/// The defaults present a Chrome-on-Linux WhatsApp Web client. The set of fields sent matches whatsmeow's
/// exactly (sections 2.1, 2.2 and 2.5 of whatsapp-linking-protocol.md); only the values name us.
public struct ClientProfile: Sendable, Hashable {
    /// A dotted version number, `primary.secondary.tertiary`.
    public struct Version: Sendable, Hashable, CustomStringConvertible {
        public var primary: UInt32
        public var secondary: UInt32
        public var tertiary: UInt32

        public init(_ primary: UInt32, _ secondary: UInt32, _ tertiary: UInt32) {
            self.primary = primary
            self.secondary = secondary
            self.tertiary = tertiary
        }

        /// `"P.S.T"`, the form hashed into `buildHash`.
        public var description: String { "\(primary).\(secondary).\(tertiary)" }
    }

    /// The WhatsApp Web version claimed; too old and the server answers `<failure reason="405">`.
    /// The default is the one whatsmeow used in the transcripts.
    public var appVersion: Version
    /// `DeviceProps.os`: shown on the phone as the device name.
    public var osName: String
    /// `DeviceProps.version`, and as `"a.b.c"` the UserAgent's `osVersion` and `osBuildNumber`.
    public var osVersion: Version
    /// `DeviceProps.platformType`: the browser icon the phone shows.
    public var platformType: WADeviceProps.PlatformType
    /// `UserAgent.localeLanguageIso6391`, e.g. `"en"`.
    public var language: String
    /// `UserAgent.localeCountryIso31661Alpha2`, e.g. `"US"`.
    public var country: String

    public init(
        appVersion: Version = Version(2, 3000, 1_047_769_893),
        osName: String = "Linux",
        osVersion: Version = Version(0, 1, 0),
        platformType: WADeviceProps.PlatformType = .chrome,
        language: String = "en",
        country: String = "US"
    ) {
        self.appVersion = appVersion
        self.osName = osName
        self.osVersion = osVersion
        self.platformType = platformType
        self.language = language
        self.country = country
    }
}
