/// A throwaway certificate authority and a server certificate it issued for `127.0.0.1` and `localhost`
/// (P-256, valid until 2126), made with `openssl` for these tests only. Nothing trusts them outside tests.
enum TestCertificates {
    static let caPEM = """
        -----BEGIN CERTIFICATE-----
        MIIBmTCCAT+gAwIBAgIUPWqfv29ONmG2K5ysHEzBMCxRkrkwCgYIKoZIzj0EAwIw
        GTEXMBUGA1UEAwwOd2FsaW5rIHRlc3QgQ0EwIBcNMjYxMTI1MDc1ODE5WhgPMjEy
        NjExMDEwNzU4MTlaMBkxFzAVBgNVBAMMDndhbGluayB0ZXN0IENBMFkwEwYHKoZI
        zj0CAQYIKoZIzj0DAQcDQgAECfMOxNKk0dkzmkM7qrpD2183+88V9nUmailTAmd8
        n2gqyJmgGS1kkA+FtIWgto/G5S2zorjYQf+L8iT1/ClgGKNjMGEwHQYDVR0OBBYE
        FO/RwhrczGsUkdfutDOyU0PS1wJfMB8GA1UdIwQYMBaAFO/RwhrczGsUkdfutDOy
        U0PS1wJfMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49
        BAMCA0gAMEUCIQCoT5/ywRmOAQN1240aM21CBW4+x4BDml/qC1Yp0We1jwIgS2t8
        AH6yMTNEq3qFBInkOyjbJKRiXV4ZL4FNnwqlv/Q=
        -----END CERTIFICATE-----
        """

    static let serverCertificatePEM = """
        -----BEGIN CERTIFICATE-----
        MIIBvzCCAWSgAwIBAgIUYAza2PdkBGvTcPqJ7iEYbUbqKHMwCgYIKoZIzj0EAwIw
        GTEXMBUGA1UEAwwOd2FsaW5rIHRlc3QgQ0EwIBcNMjYxMTI1MDc1ODE5WhgPMjEy
        NjExMDEwNzU4MTlaMBQxEjAQBgNVBAMMCWxvY2FsaG9zdDBZMBMGByqGSM49AgEG
        CCqGSM49AwEHA0IABLs8C8L7EAUBX+7ycTNT2baEQLGAAaU6ELg6dC8I6cDfGH5e
        uW9ECbPO5d/lUPode2YeYzpkePebuVggLYjJjb+jgYwwgYkwGgYDVR0RBBMwEYcE
        fwAAAYIJbG9jYWxob3N0MAkGA1UdEwQCMAAwCwYDVR0PBAQDAgeAMBMGA1UdJQQM
        MAoGCCsGAQUFBwMBMB0GA1UdDgQWBBSzeBwgSEFkch2G03pAD4+kVC1U6TAfBgNV
        HSMEGDAWgBTv0cIa3MxrFJHX7rQzslND0tcCXzAKBggqhkjOPQQDAgNJADBGAiEA
        9UseAUcUWwI2zYl7RtXpPfIdYU8Y0v/xWGF4yPiAFYcCIQC+2ZW/y2fug4XBRORt
        J5v5N/KD0PL3WbF9Cr4WGFFFiQ==
        -----END CERTIFICATE-----
        """

    static let serverKeyPEM = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpRQnNz0YsZi65eW6
        27qjzqsrTZLGNPip3kAqSjDOJ8ihRANCAAS7PAvC+xAFAV/u8nEzU9m2hECxgAGl
        OhC4OnQvCOnA3xh+XrlvRAmzzuXf5VD6HXtmHmM6ZHj3m7lYIC2IyY2/
        -----END PRIVATE KEY-----
        """
}
