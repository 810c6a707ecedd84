import Foundation
import WhatsAppProtocol

/// How a ``LinkClient`` connects and how long each step may take. The defaults are WhatsApp's real server
/// and the reference clients' timings; tests and the simulator shorten them.
public struct LinkConfiguration: Sendable {
    // MARK: Server

    /// The chat socket; `ws://127.0.0.1:port/...` or `wss://127.0.0.1:port/...` for the simulator.
    public var url: URL
    /// PEM file of extra CA certificates trusted besides the system store (the simulator's self-signed CA).
    public var extraCAFile: String?
    /// The Noise certificate root the server chain must chain to (WhatsApp's real root by default).
    public var rootPublicKey: [UInt8]
    /// An optional `User-Agent` header.
    public var userAgent: String?

    // MARK: What we present

    /// The WhatsApp Web version and browser/OS the phone shows under "Linked devices".
    public var clientProfile: ClientProfile
    /// QR strings in the May 2026 URL form (`https://wa.me/settings/linked_devices#…,platform`) when true,
    /// the bare four fields (`ref,noise,identity,adv`) when false.
    public var qrUsesURLForm: Bool

    // MARK: Timeouts and intervals

    /// TCP + TLS + WebSocket upgrade.
    public var connectTimeout: Duration
    /// The Noise handshake after the WebSocket is up (whatsmeow: 20 s).
    public var handshakeTimeout: Duration
    /// Waiting for the server's WebSocket close frame when we close.
    public var closeTimeout: Duration
    /// From the registration connection being up to `pair-device` (the refs).
    public var pairDeviceTimeout: Duration
    /// How long the first QR ref is shown (60 s in both reference clients).
    public var firstQRLifetime: Duration
    /// How long each later ref is shown (20 s).
    public var nextQRLifetime: Duration
    /// How long a pairing code stays valid once the server accepted it (about 180 s, 2026 §C.3).
    public var pairingCodeLifetime: Duration
    /// How long a pairing-code request may wait for the registration connection and the server's answer.
    public var pairingCodeRequestTimeout: Duration
    /// After `primary_hello`, how long to wait for pair-success before the code is retired (60 s, §C.3).
    public var pairingCodeStage2Timeout: Duration
    /// How many `primary_hello` one code accepts (3, §C.3).
    public var maximumPrimaryHellos: Int
    /// How long to wait for the answer to an iq we sent (companion_hello, companion_finish, post-login).
    public var iqTimeout: Duration
    /// Keepalive pings are sent at a random interval in this range (whatsmeow: 20–30 s).
    public var keepAliveInterval: ClosedRange<Duration>
    /// After this many keepalive intervals without any answer the connection counts as lost.
    public var keepAliveMaximumMissed: Int
    /// After pair-success, how long to wait for `<stream:error code="515">` and the close before logging in.
    public var restartTimeout: Duration
    /// From opening the login connection to `<success>`.
    public var loginTimeout: Duration
    /// From `<success>` until the post-login iqs must be done; `paired` is reported then at the latest.
    public var postLoginTimeout: Duration
    /// How long the connection is kept up for a passkey request (the server's options allow 600 s).
    public var passkeyTimeout: Duration

    // MARK: Prekeys

    /// Upload prekeys after login when the server holds fewer than this many (whatsmeow: 5).
    public var minimumPreKeyCount: Int
    /// How many prekeys to upload then. whatsmeow uploads 812 on its first login; the default keeps the
    /// paired-device record small. Their private keys are returned in ``PairedDevice/preKeys``.
    public var preKeyUploadCount: Int

    public init(
        url: URL = WhatsAppConnectionConfiguration.defaultURL,
        extraCAFile: String? = nil,
        rootPublicKey: [UInt8] = ServerCertificateVerifier.whatsAppRootPublicKey,
        userAgent: String? = nil,
        clientProfile: ClientProfile = ClientProfile(),
        qrUsesURLForm: Bool = true,
        connectTimeout: Duration = .seconds(20),
        handshakeTimeout: Duration = .seconds(20),
        closeTimeout: Duration = .seconds(2),
        pairDeviceTimeout: Duration = .seconds(30),
        firstQRLifetime: Duration = .seconds(60),
        nextQRLifetime: Duration = .seconds(20),
        pairingCodeLifetime: Duration = .seconds(180),
        pairingCodeRequestTimeout: Duration = .seconds(60),
        pairingCodeStage2Timeout: Duration = .seconds(60),
        maximumPrimaryHellos: Int = 3,
        iqTimeout: Duration = .seconds(30),
        keepAliveInterval: ClosedRange<Duration> = .seconds(20) ... .seconds(30),
        keepAliveMaximumMissed: Int = 3,
        restartTimeout: Duration = .seconds(20),
        loginTimeout: Duration = .seconds(30),
        postLoginTimeout: Duration = .seconds(30),
        passkeyTimeout: Duration = .seconds(600),
        minimumPreKeyCount: Int = 5,
        preKeyUploadCount: Int = 50
    ) {
        self.url = url
        self.extraCAFile = extraCAFile
        self.rootPublicKey = rootPublicKey
        self.userAgent = userAgent
        self.clientProfile = clientProfile
        self.qrUsesURLForm = qrUsesURLForm
        self.connectTimeout = connectTimeout
        self.handshakeTimeout = handshakeTimeout
        self.closeTimeout = closeTimeout
        self.pairDeviceTimeout = pairDeviceTimeout
        self.firstQRLifetime = firstQRLifetime
        self.nextQRLifetime = nextQRLifetime
        self.pairingCodeLifetime = pairingCodeLifetime
        self.pairingCodeRequestTimeout = pairingCodeRequestTimeout
        self.pairingCodeStage2Timeout = pairingCodeStage2Timeout
        self.maximumPrimaryHellos = maximumPrimaryHellos
        self.iqTimeout = iqTimeout
        self.keepAliveInterval = keepAliveInterval
        self.keepAliveMaximumMissed = keepAliveMaximumMissed
        self.restartTimeout = restartTimeout
        self.loginTimeout = loginTimeout
        self.postLoginTimeout = postLoginTimeout
        self.passkeyTimeout = passkeyTimeout
        self.minimumPreKeyCount = minimumPreKeyCount
        self.preKeyUploadCount = preKeyUploadCount
    }

    /// The connection settings for each WebSocket + Noise connection of a run.
    public var connectionConfiguration: WhatsAppConnectionConfiguration {
        WhatsAppConnectionConfiguration(
            url: url, userAgent: userAgent, extraCAFile: extraCAFile, rootPublicKey: rootPublicKey,
            connectTimeout: connectTimeout, handshakeTimeout: handshakeTimeout, closeTimeout: closeTimeout)
    }

    /// The companion platform id of the QR's fifth field and `companion_platform_id`.
    var companionPlatform: CompanionPlatform {
        CompanionPlatform(devicePropsPlatformType: clientProfile.platformType.rawValue)
    }

    /// `companion_platform_display`, e.g. `Chrome (Linux)`.
    var companionPlatformDisplay: String {
        companionPlatform.display(os: CompanionOS(hint: clientProfile.osName))
    }
}
