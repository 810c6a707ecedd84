import Logging
import Store
import StorePostgres

/// Opens the store a configuration names. The one place that knows which implementations exist.
public enum StoreFactory {
    /// `clock`: the store's time for SQLite; a PostgreSQL store always uses the database's clock
    /// (workers on several machines must agree), unless tests give it a clock of their own.
    public static func open(
        _ configuration: StoreConfiguration,
        clock: (any StoreClock)? = nil,
        logger: Logger = Logger(label: "walink.store")
    ) async throws(StoreError) -> any WalinkStore {
        switch configuration.location {
        case .sqlite:
            try await SQLiteStore.open(configuration, clock: clock ?? SystemStoreClock(), logger: logger)
        case .postgres(let settings):
            try await PostgresStore.open(settings, key: configuration.key, timeout: configuration.timeout, clock: clock, logger: logger)
        }
    }
}
