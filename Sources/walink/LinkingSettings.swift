import Foundation
import Gateway
import WhatsAppLink
import WhatsAppProtocol

/// The WhatsApp side of `walink worker`, from the environment.
enum LinkingSettings {
    /// `WALINK_WA_URL`, `WALINK_WA_CA_FILE`, `WALINK_WA_ROOT_KEY` (hex), `WALINK_QR_FIRST_SECONDS`,
    /// `WALINK_QR_NEXT_SECONDS`, `WALINK_PAIRING_CODE_SECONDS`, `WALINK_KEEPALIVE_SECONDS`, `WALINK_MAX_PAIRINGS`,
    /// `WALINK_LEASE_SECONDS`, `WALINK_DRAIN_SECONDS`.
    ///
    /// Without `WALINK_MAX_PAIRINGS` a worker runs as many pairings as its open-file limit allows,
    /// up to the default (`openFiles`: the limit, once raised; nil when unknown).
    static func configuration(_ environment: [String: String], openFiles: Int?) throws -> LinkManager.Configuration {
        var link = LinkConfiguration()
        if let text = value(environment, "WALINK_WA_URL") {
            guard let url = URL(string: text), ["wss", "ws"].contains(url.scheme ?? "") else {
                throw SettingsError(message: "WALINK_WA_URL must be a wss:// (or ws://) URL")
            }
            link.url = url
        }
        if let path = value(environment, "WALINK_WA_CA_FILE") {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw SettingsError(message: "WALINK_WA_CA_FILE: cannot read \(path)")
            }
            link.extraCAFile = path
        }
        if let hex = value(environment, "WALINK_WA_ROOT_KEY") {
            guard let key = Hex.decode(hex), key.count == 32 else {
                throw SettingsError(message: "WALINK_WA_ROOT_KEY must be 64 hex digits (a Curve25519 public key)")
            }
            link.rootPublicKey = key
        }
        if let seconds = try duration(environment, "WALINK_QR_FIRST_SECONDS") { link.firstQRLifetime = seconds }
        if let seconds = try duration(environment, "WALINK_QR_NEXT_SECONDS") { link.nextQRLifetime = seconds }
        if let seconds = try duration(environment, "WALINK_PAIRING_CODE_SECONDS") { link.pairingCodeLifetime = seconds }
        if let interval = try durationRange(environment, "WALINK_KEEPALIVE_SECONDS") { link.keepAliveInterval = interval }
        var configuration = LinkManager.Configuration(link: link)
        if let seconds = try duration(environment, "WALINK_LEASE_SECONDS") { configuration.leaseDuration = seconds }
        if let text = value(environment, "WALINK_DRAIN_SECONDS") {
            // 0 is allowed: stop pairings at once on SIGTERM.
            guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds >= 0, seconds < 86_400 else {
                throw SettingsError(message: "WALINK_DRAIN_SECONDS must be a number of seconds (0 or more)")
            }
            configuration.drainDuration = .milliseconds(Int64(seconds * 1000))
        }
        if let text = value(environment, "WALINK_MAX_PAIRINGS") {
            guard let count = Int(text), count > 0 else { throw SettingsError(message: "WALINK_MAX_PAIRINGS must be a positive number") }
            configuration.maximumConcurrentLinks = count
        } else if let openFiles {
            configuration.maximumConcurrentLinks = max(1, min(configuration.maximumConcurrentLinks, openFiles - OpenFileLimit.reserve))
        }
        return configuration
    }

    private static func value(_ environment: [String: String], _ name: String) -> String? {
        environment[name].flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0.trimmingCharacters(in: .whitespaces) }
    }

    private static func duration(_ environment: [String: String], _ name: String) throws -> Duration? {
        guard let text = value(environment, name) else { return nil }
        guard let duration = seconds(text) else { throw SettingsError(message: "\(name) must be a number of seconds") }
        return duration
    }

    /// `MIN-MAX` seconds (each wait is drawn from the range, so connections do not ping in step), or
    /// one number.
    private static func durationRange(_ environment: [String: String], _ name: String) throws -> ClosedRange<Duration>? {
        guard let text = value(environment, name) else { return nil }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { seconds(String($0)) }
        switch parts.count {
        case 1: if let single = parts[0] { return single...single }
        case 2: if let low = parts[0], let high = parts[1], low <= high { return low...high }
        default: break
        }
        throw SettingsError(message: "\(name) must be seconds, or a range MIN-MAX of seconds")
    }

    private static func seconds(_ text: String) -> Duration? {
        guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds > 0, seconds < 86_400 else { return nil }
        return .milliseconds(Int64(seconds * 1000))
    }
}
