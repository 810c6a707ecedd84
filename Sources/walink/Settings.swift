import Foundation
import Logging

/// Reads a setting: the command-line option wins, then the environment variable, then the default.
enum Settings {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    static func string(_ option: String?, _ variable: String, default value: String) -> String {
        option ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 } ?? value
    }

    static func optionalString(_ option: String?, _ variable: String) -> String? {
        option ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    static func integer(_ option: Int?, _ variable: String, default value: Int) throws -> Int {
        if let option { return option }
        guard let text = environment[variable], !text.isEmpty else { return value }
        guard let number = Int(text) else { throw SettingsError(message: "\(variable) must be a whole number, not \"\(text)\"") }
        return number
    }

    static func flag(_ option: Bool, _ variable: String) -> Bool {
        option || ["1", "true", "yes", "on"].contains(environment[variable]?.lowercased() ?? "")
    }

    static func logLevel(_ option: String?) throws -> Logger.Level {
        let text = string(option, "WALINK_LOG_LEVEL", default: "info")
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw SettingsError(message: "WALINK_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }

    /// Logs to standard error (standard output stays for the command's own output).
    static func startLogging(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// `<hostname>-<4 hex digits>`: unique enough to tell workers apart in logs and pings.
    static func defaultWorkerID() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "worker"
        return "\(host)-\(String(UInt16.random(in: .min ... .max), radix: 16))"
    }
}

struct SettingsError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
