/// Everything the simulator needs to run: where it listens, its TLS and Noise identities, the shape and
/// timing of the pairing traffic, the simulated phone accounts and the initial faults. Every timeout is
/// configurable so tests can use short ones.
public struct SimulatorConfiguration: Sendable {
    /// Interface to listen on, e.g. `127.0.0.1`.
    public var host: String
    /// WebSocket port; 0 picks a free one (see ``SimulatorEndpoints/port``).
    public var port: Int
    /// Port of the HTTP control API (``ControlAPI``); nil for none, 0 for a free one.
    public var controlPort: Int?
    /// TLS for the WebSocket listener.
    public var tls: TLSMode
    /// The Noise certificate root: a hex 32-byte Curve25519 private key, or nil to generate one at start.
    /// Its public key (``SimulatorEndpoints/rootPublicKeyHex``) is what a companion must trust.
    public var rootPrivateKeyHex: String?
    /// How many refs `pair-device` carries (WhatsApp sends 6).
    public var refsCount: Int
    /// How long the first ref is valid (WhatsApp: 60 s).
    public var firstRefLifetime: Duration
    /// How long each later ref is valid (WhatsApp: 20 s).
    public var laterRefLifetime: Duration
    /// Close a registration connection once all its refs ran out, as the real server is documented to
    /// (linking spec §4.4, §12.15) — but never while a pairing code is outstanding or a pairing is running.
    public var closeWhenRefsExpire: Bool
    /// How long a connection may take from accept to a complete Noise handshake.
    public var handshakeTimeout: Duration
    /// How long a phone action waits for the companion (ack, `companion_finish`, `pair-device-sign`).
    public var phoneReplyTimeout: Duration
    /// After `<stream:error code="515">` WhatsApp leaves the socket to the companion, which closes it and
    /// logs in on a new one; the server closes it itself only if the companion has not after this long.
    public var restartCloseTimeout: Duration
    /// The `<count value>` answered to a logged-in companion's prekey count query before it uploads any.
    public var initialPreKeyCount: Int
    /// Largest WebSocket message accepted from a client.
    public var maxMessageSize: Int
    /// Phone accounts known from the start; more are created on first use of a number.
    public var phones: [PhoneAccount]
    /// Global faults active from the start.
    public var faults: SimulatorFaults
    /// Cosmetics for `walink demo`.
    public var demo: DemoOptions

    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        controlPort: Int? = nil,
        tls: TLSMode = .generated(caFilePath: nil),
        rootPrivateKeyHex: String? = nil,
        refsCount: Int = 6,
        firstRefLifetime: Duration = .seconds(60),
        laterRefLifetime: Duration = .seconds(20),
        closeWhenRefsExpire: Bool = true,
        handshakeTimeout: Duration = .seconds(20),
        phoneReplyTimeout: Duration = .seconds(30),
        restartCloseTimeout: Duration = .seconds(10),
        initialPreKeyCount: Int = 0,
        maxMessageSize: Int = 1 << 20,
        phones: [PhoneAccount] = [],
        faults: SimulatorFaults = .none,
        demo: DemoOptions = DemoOptions()
    ) {
        self.host = host
        self.port = port
        self.controlPort = controlPort
        self.tls = tls
        self.rootPrivateKeyHex = rootPrivateKeyHex
        self.refsCount = refsCount
        self.firstRefLifetime = firstRefLifetime
        self.laterRefLifetime = laterRefLifetime
        self.closeWhenRefsExpire = closeWhenRefsExpire
        self.handshakeTimeout = handshakeTimeout
        self.phoneReplyTimeout = phoneReplyTimeout
        self.restartCloseTimeout = restartCloseTimeout
        self.initialPreKeyCount = initialPreKeyCount
        self.maxMessageSize = maxMessageSize
        self.phones = phones
        self.faults = faults
        self.demo = demo
    }

    func validate() throws(SimulatorError) {
        guard (0...65535).contains(port) else {
            throw SimulatorError(.invalidConfiguration, detail: "port out of range")
        }
        if let controlPort, !(0...65535).contains(controlPort) {
            throw SimulatorError(.invalidConfiguration, detail: "control port out of range")
        }
        guard (1...64).contains(refsCount) else {
            throw SimulatorError(.invalidConfiguration, detail: "refs count must be 1...64")
        }
        guard firstRefLifetime > .zero, laterRefLifetime > .zero, handshakeTimeout > .zero,
            phoneReplyTimeout > .zero, restartCloseTimeout > .zero
        else { throw SimulatorError(.invalidConfiguration, detail: "durations must be positive") }
        guard maxMessageSize >= 1024, maxMessageSize <= 1 << 24 + 16 else {
            throw SimulatorError(.invalidConfiguration, detail: "max message size out of range")
        }
        guard initialPreKeyCount >= 0 else {
            throw SimulatorError(.invalidConfiguration, detail: "negative prekey count")
        }
    }
}

/// TLS on the WebSocket listener.
public enum TLSMode: Sendable, Hashable {
    /// Plain `ws://` (tests only; a real companion always uses TLS).
    case disabled
    /// A certificate authority and a `localhost`/`127.0.0.1` server certificate generated at start. The
    /// CA certificate is written as PEM to `caFilePath` (a file in the temporary directory when nil) for
    /// the companion to trust.
    case generated(caFilePath: String?)
    /// A server certificate chain and key loaded from PEM files; `caFilePath` (optional) is reported to
    /// clients as the file to trust.
    case files(certificateChainPath: String, privateKeyPath: String, caFilePath: String?)
}

/// A simulated WhatsApp account on a phone (the primary device).
public struct PhoneAccount: Sendable, Hashable, Codable {
    /// The international number, digits only (e.g. `15550001111`).
    public var number: String
    /// The account's push name.
    public var pushName: String
    /// The primary's platform as sent in `<platform name=…>` (`android`, `iphone`, `smba`, `smbi`).
    public var platform: String
    /// A business name for `<biz name=…>`, or nil to leave the element out.
    public var businessName: String?
    /// The identity private key as hex, or nil to generate one.
    public var identityPrivateKeyHex: String?
    /// The account's LID user part (digits), or nil to draw one.
    public var lid: String?

    public init(
        number: String, pushName: String = "Simulated Phone", platform: String = "android",
        businessName: String? = nil, identityPrivateKeyHex: String? = nil, lid: String? = nil
    ) {
        self.number = number
        self.pushName = pushName
        self.platform = platform
        self.businessName = businessName
        self.identityPrivateKeyHex = identityPrivateKeyHex
        self.lid = lid
    }
}

/// Options that only change how the simulator looks in a demo.
public struct DemoOptions: Sendable, Hashable {
    /// A pause before each phone action (a person picking up the phone), zero for none.
    public var phoneActionDelay: Duration

    public init(phoneActionDelay: Duration = .zero) {
        self.phoneActionDelay = phoneActionDelay
    }
}

/// Where a started simulator can be reached.
public struct SimulatorEndpoints: Sendable, Hashable {
    /// e.g. `wss://127.0.0.1:43123/ws/chat` (`ws://` without TLS).
    public var webSocketURL: String
    /// The bound WebSocket port.
    public var port: Int
    /// e.g. `http://127.0.0.1:43124/control`, nil without a control API.
    public var controlURL: String?
    /// The bound control port.
    public var controlPort: Int?
    /// The CA certificate PEM file a companion should trust, nil without TLS (or when unknown).
    public var caFilePath: String?
    /// The Noise root public key a companion should trust, 64 hex digits.
    public var rootPublicKeyHex: String
}
