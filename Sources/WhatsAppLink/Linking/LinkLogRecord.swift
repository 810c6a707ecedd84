import Logging

/// A fact the linking state machine reports for the log. The machine holds no logger: it returns these as
/// ``LinkAction/log(_:)`` and ``LinkClient`` writes them. The cases carry no secret (no QR string, code or
/// key) by construction, so whatever the driver does with them cannot leak one.
enum LinkLogRecord: Sendable, Hashable {
    enum ConnectionPurpose: String, Sendable, Hashable {
        case registration, login
    }

    // Connections and stanzas
    case connectionUp(ConnectionPurpose)
    case streamEnded
    case stanzaIgnored(tag: String)
    case iqIgnored(type: String?, id: String?)
    case iqTimedOut(id: String)
    case notificationIgnored(type: String?)

    // QR refs (spec §4, 2026 §A)
    case pairDevice(refs: Int)
    case pairDeviceWithoutRefs
    case refSkipped(index: Int)
    case refsExhausted
    case regRefreshWithoutKnownChild
    case advSecretRotated
    case regRefreshDroppedPairCodePending
    case passkeyRequested

    // Pairing code (spec §5, 2026 §C)
    case companionHelloSent(iqID: String)
    case pairingCodeRefused(LinkError)
    case linkCodeNotificationWithoutPrimaryHello
    case primaryHelloWithoutCode
    case primaryHelloForAnotherRef
    case tooManyPrimaryHellos
    /// `error` is the failing check's code.
    case primaryHelloUnusable(error: String)
    case companionFinishSent(iqID: String)
    case companionFinishRefused(serverCode: Int?)
    case refreshCodeIgnored
    case refreshCode(forceManual: Bool)
    case pairingCodeExpired
    case pairingCodeStage2TimedOut

    // Pair-success, restart, login (spec §6–§8)
    case pairSuccessIgnored
    case pairSuccessVerified
    case restartRequested
    case restartTimedOut
    case successBeforePairingIgnored
    case noUsablePreKeyCount
    case preKeyUploadRefused

    // The end of the run
    case linkingFailed(LinkFailure)
    case linkingTimedOut
    case linkingComplete
}

extension LinkLogRecord {
    var level: Logger.Level {
        switch self {
        case .passkeyRequested, .pairingCodeRefused, .companionFinishRefused, .pairingCodeStage2TimedOut, .linkingFailed,
            .linkingTimedOut, .linkingComplete:
            .info
        case .pairDeviceWithoutRefs, .refSkipped, .regRefreshWithoutKnownChild, .primaryHelloForAnotherRef, .tooManyPrimaryHellos,
            .primaryHelloUnusable, .preKeyUploadRefused:
            .warning
        default:
            .debug
        }
    }

    var message: Logger.Message {
        switch self {
        case .connectionUp(.registration): "Registration connection up"
        case .connectionUp(.login): "Login connection up"
        case .streamEnded: "Server ended the stream"
        case .stanzaIgnored: "Ignoring stanza"
        case .iqIgnored: "Ignoring iq"
        case .iqTimedOut: "Iq timed out"
        case .notificationIgnored: "Ignoring notification"
        case .pairDevice: "Refs received"
        case .pairDeviceWithoutRefs: "No refs in pair-device; ignored"
        case .refSkipped: "Skipping a ref that cannot be put in a QR code"
        case .refsExhausted: "QR refs exhausted"
        case .regRefreshWithoutKnownChild: "Unknown companion_reg_refresh child; ignored"
        case .advSecretRotated: "Adv secret rotated by companion_reg_refresh"
        case .regRefreshDroppedPairCodePending: "Dropped companion_reg_refresh: pair-code pair-success pending"
        case .passkeyRequested: "Server requested passkey verification; assertions are not supported, keeping the connection up"
        case .companionHelloSent: "Pairing code requested (companion_hello sent)"
        case .pairingCodeRefused: "Pairing code refused"
        case .linkCodeNotificationWithoutPrimaryHello: "No primary_hello data in link_code_companion_reg"
        case .primaryHelloWithoutCode: "Dropped primary_hello without a live code"
        case .primaryHelloForAnotherRef: "Dropped primary_hello for another ref"
        case .tooManyPrimaryHellos: "Dropped primary_hello: too many for one code"
        case .primaryHelloUnusable: "Unusable primary_hello"
        case .companionFinishSent: "Code entered on the phone (companion_finish sent)"
        case .companionFinishRefused: "Server refused companion_finish"
        case .refreshCodeIgnored: "Ignored refresh_code for no outstanding code"
        case .refreshCode: "Pairing code refreshed by the server"
        case .pairingCodeExpired: "Pairing code expired"
        case .pairingCodeStage2TimedOut: "No pair-success after primary_hello; retiring the code"
        case .pairSuccessIgnored: "Ignored pair-success while not waiting for one"
        case .pairSuccessVerified: "Pair-success verified; waiting for the restart"
        case .restartRequested: "Restart required; closing to log in"
        case .restartTimedOut: "No restart from the server in time; closing to log in"
        case .successBeforePairingIgnored: "Ignored <success> before pairing completed"
        case .noUsablePreKeyCount: "No usable prekey count; not uploading"
        case .preKeyUploadRefused: "Prekey upload refused"
        case .linkingFailed: "Linking failed"
        case .linkingTimedOut: "Linking timed out"
        case .linkingComplete: "Linking complete"
        }
    }

    var metadata: Logger.Metadata? {
        switch self {
        case .stanzaIgnored(let tag): [LinkMetadataKey.tag: "\(tag)"]
        case .iqIgnored(let type, let id): [LinkMetadataKey.iqType: "\(type ?? "-")", LinkMetadataKey.iqID: "\(id ?? "-")"]
        case .iqTimedOut(let id), .companionHelloSent(let id), .companionFinishSent(let id): [LinkMetadataKey.iqID: "\(id)"]
        case .notificationIgnored(let type): [LinkMetadataKey.notificationType: "\(type ?? "-")"]
        case .pairDevice(let refs): [LinkMetadataKey.refs: "\(refs)"]
        case .refSkipped(let index): [LinkMetadataKey.refIndex: "\(index)"]
        case .pairingCodeRefused(let error):
            [LinkMetadataKey.reason: "\(error.code)", LinkMetadataKey.serverCode: "\(error.serverCode.map(String.init) ?? "-")"]
        case .primaryHelloUnusable(let error): [LinkMetadataKey.error: "\(error)"]
        case .companionFinishRefused(let code): [LinkMetadataKey.serverCode: "\(code.map(String.init) ?? "timeout")"]
        case .refreshCode(let forceManual): [LinkMetadataKey.forceManual: "\(forceManual)"]
        case .linkingFailed(let failure):
            [LinkMetadataKey.reason: "\(failure.code)", LinkMetadataKey.serverCode: "\(failure.serverCode.map(String.init) ?? "-")"]
        default: nil
        }
    }

    /// Writes the record to `logger`.
    func log(to logger: Logger) {
        logger.log(level: level, message, metadata: metadata)
    }
}
