import ArgumentParser
import Foundation
import Logging
import Store
import StoreFactory

/// `walink store copy`: moves a deployment to another store.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Work on the session store itself.",
        subcommands: [Copy.self]
    )

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Copy sessions, device credentials and API keys into a new, empty store (stop the workers first). Credentials are re-sealed with the target's key."
        )

        @Option(help: "The store to copy from: sqlite:PATH or postgres://… (its key: WALINK_STORE_KEY, or --from-key-file).")
        var from: String

        @Option(help: "The empty store to copy into (its key: WALINK_STORE_KEY, or --to-key-file).")
        var to: String

        @Option(help: "The source's key file (default for SQLite: the database path + .key).")
        var fromKeyFile: String?

        @Option(help: "The target's key file (created for a new SQLite store when missing).")
        var toKeyFile: String?

        func run() async throws {
            let logger = Logger(label: "walink.store")
            do {
                let source = try configuration(url: from, keyFile: fromKeyFile)
                let target = try configuration(url: to, keyFile: toKeyFile)
                let copied = try await StoreCopier.copy(from: source, to: target, logger: logger)
                print("copied \(copied)")
            } catch {
                // Store errors name no secrets (URLs are never repeated).
                throw SettingsError(message: "store copy failed: \(error.message)")
            }
        }

        private func configuration(url: String, keyFile: String?) throws(StoreError) -> StoreConfiguration {
            var environment = Settings.environment
            environment["WALINK_STORE"] = url
            if let keyFile { environment["WALINK_STORE_KEY_FILE"] = keyFile }
            return try StoreConfiguration(environment: environment)
        }
    }
}
