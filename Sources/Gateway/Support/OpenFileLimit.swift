#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's limit on open files. A worker holds a socket per pairing besides the broker's and
/// the store's, and many systems start processes with a soft limit of 1,024 but allow far more:
/// like most servers, walink raises its soft limit to the hard one at start.
public enum OpenFileLimit {
    /// Descriptors a worker needs besides one per pairing: the broker, the store, logs, the JWKS.
    public static let reserve = 64

    /// Raises the soft limit to the hard limit and returns the limit now in force (nil when the
    /// system does not say).
    @discardableResult public static func raiseToHardLimit() -> Int? {
        var limits = rlimit()
        guard getrlimit(resourceLimit, &limits) == 0 else { return nil }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(resourceLimit, &raised) == 0 { limits = raised }
        }
        // RLIM_INFINITY is all bits set; Swift cannot import the C macro on every platform.
        return limits.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limits.rlim_cur)
    }

    #if canImport(Glibc)
    private static let resourceLimit = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    #else
    private static let resourceLimit = RLIMIT_NOFILE
    #endif
}
