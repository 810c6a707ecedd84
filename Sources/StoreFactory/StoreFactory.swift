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

/// `walink store copy`: moves one deployment's sessions, credentials and API keys into a new store
/// (for example from SQLite to PostgreSQL when a deployment grows into a fleet).
public enum StoreCopier {
    /// Copies `source` into `target`, which must be empty; answers what was copied. Workers should be
    /// stopped meanwhile: what they change after the export is not carried over.
    public static func copy(
        from source: StoreConfiguration, to target: StoreConfiguration, logger: Logger = Logger(label: "walink.store")
    ) async throws(StoreError) -> StoreContents {
        let from = try await StoreFactory.open(source, logger: logger)
        let to: any WalinkStore
        do {
            to = try await StoreFactory.open(target, logger: logger)
        } catch {
            await from.close()
            throw error
        }
        // Both stores are closed whatever the copy did.
        let copied: Result<StoreContents, StoreError>
        do throws(StoreError) {
            guard let exporting = from as? any CopyableStore, let importing = to as? any CopyableStore else {
                throw StoreError(.unsupported, "only SQLite and PostgreSQL stores can be copied (sqlite:PATH, postgres://…)")
            }
            let contents = try await exporting.exportContents()
            try await importing.importContents(contents)
            copied = .success(contents)
        } catch {
            copied = .failure(error)
        }
        await from.close()
        await to.close()
        return try copied.get()
    }
}
