import ArgumentParser
import Foundation
import Logging
import Store
import StoreFactory

/// `--store` / `WALINK_STORE`, shared by the commands that open the store.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("store"),
        help:
            "sqlite:PATH (WALINK_STORE; default sqlite:walink.db). The key comes from WALINK_STORE_KEY or the key file WALINK_STORE_KEY_FILE (default: the database path + .key, created with mode 0600)."
    )
    var url: String?

    func open(logger: Logger) async throws -> any WalinkStore {
        var environment = Settings.environment
        if let url { environment["WALINK_STORE"] = url }
        do {
            return try await StoreFactory.open(try StoreConfiguration(environment: environment), logger: logger)
        } catch {
            // Store errors say what is wrong (wrong key, unsupported URL) without secrets.
            throw SettingsError(message: "cannot open the store: \(error.message)")
        }
    }
}
