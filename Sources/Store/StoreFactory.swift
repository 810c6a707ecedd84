import Logging

/// Opens the store a configuration names. The one place that knows which implementations exist.
public enum StoreFactory {
    public static func open(
        _ configuration: StoreConfiguration,
        clock: any StoreClock = SystemStoreClock(),
        logger: Logger = Logger(label: "walink.store")
    ) async throws(StoreError) -> any WalinkStore {
        switch configuration.location {
        case .sqlite:
            try await SQLiteStore.open(configuration, clock: clock, logger: logger)
        }
    }
}
