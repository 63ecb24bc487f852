// The idiomatic Swift face of the Praxis core: async/await, Sendable
// values, an AsyncStream of session state, and a closed error enum. It
// adapts the generated bindings and holds no logic of its own.
import Foundation
import PraxisFFI
#if canImport(Security)
import Security
#endif

/// Supplies the 32-byte key that unlocks the local cache.
public protocol PraxisKeyProvider: Sendable {
    func key() throws -> Data
    func forget() throws
}

public enum SessionState: Sendable, Equatable {
    case signedOut
    case signedIn(userID: String)
    case needsReLogin
    /// Signed out from another device with a wipe: this device's data was deleted.
    case wiped
}

/// Every error the core's calls throw, besides Swift's own
/// `CancellationError` when the calling Task is cancelled. None carries
/// personal data; `localizedDescription` is a sentence to show the user.
public enum PraxisError: Error, Sendable, Equatable {
    /// `unreachable`, `timeout`, `interrupted`, `tls`, `certificate_expired`,
    /// `certificate_wrong_host`, `certificate_untrusted` or `pin_mismatch`.
    case network(reason: String)
    case unauthorized
    case invalidCredentials
    case conflict(code: String)
    case invalidInput(field: String, reason: String)
    case rateLimited(retryAfterSeconds: Int)
    case forbidden
    case notFound
    case consentRequired(purpose: String)
    case policyDisabled
    case restricted
    /// The key does not open the local data (see `PraxisCore.open(resetOnKeyMismatch:)`).
    case keyMismatch
    /// The key provider failed; `reason` is its own (for the Keychain,
    /// e.g. `keychain_read_-25308`: the device is locked).
    case keyUnavailable(reason: String)
    case storage
    case server(status: Int)
    /// A defect: a panic in the core or an answer the wrapper did not
    /// expect. `reason` names its kind, never data.
    case `internal`(reason: String)
}

extension PraxisError: LocalizedError {
    public var errorDescription: String? {
        switch self {
        case let .network(reason):
            switch reason {
            case "timeout": return text("The server took too long to answer. Try again.")
            case "certificate_expired", "certificate_wrong_host", "certificate_untrusted", "pin_mismatch", "tls":
                return text("The server's identity could not be verified. Nothing was sent.")
            default: return text("The server cannot be reached. Check the connection and try again.")
            }
        case .unauthorized: return text("You are signed out. Sign in again.")
        case .invalidCredentials: return text("The email address or the password is wrong.")
        case let .conflict(code):
            switch code {
            case "email_taken": return text("An account with this email address already exists.")
            case "reauth_required": return text("Enter your password again to confirm.")
            case "last_admin": return text("The organisation needs another administrator first.")
            default: return text("This conflicts with a change made elsewhere. Refresh and try again.")
            }
        case let .invalidInput(_, reason):
            switch reason {
            case "weak_password": return text("Choose a longer, less common password.")
            case "too_young": return text("You must be an adult to use Praxis.")
            default: return text("Some of the information entered is not valid.")
            }
        case .rateLimited: return text("Too many attempts. Wait a moment and try again.")
        case .forbidden: return text("You are not allowed to do this.")
        case .notFound: return text("This no longer exists.")
        case .consentRequired: return text("This needs your consent first.")
        case .policyDisabled: return text("Your organisation has switched this off.")
        case .restricted: return text("Processing of your data is restricted at your request.")
        case .keyMismatch: return text("The data on this device cannot be unlocked. Sign in again.")
        case .keyUnavailable: return text("The device's keychain is not available. Unlock the device and try again.")
        case .storage: return text("The data on this device could not be read or saved.")
        case .server: return text("The server had a problem. Try again later.")
        case .internal: return text("Something went wrong in Praxis.")
        }
    }
}

private func text(_ message: String) -> String { NSLocalizedString(message, comment: "") }

extension PraxisError {
    /// Closes the set of errors: the core's errors by name, cancellation
    /// as it is, anything else (a panic in the core) as `.internal`.
    static func from(_ error: Error) -> Error {
        if error is CancellationError || error is PraxisError { return error }
        guard let e = error as? PraxisFFI.PraxisError else {
            return PraxisError.internal(reason: String(describing: type(of: error)))
        }
        switch e {
        case let .Network(reason): return PraxisError.network(reason: reason)
        case .Unauthorized: return PraxisError.unauthorized
        case .InvalidCredentials: return PraxisError.invalidCredentials
        case let .Conflict(code): return PraxisError.conflict(code: code)
        case let .InvalidInput(field, reason): return PraxisError.invalidInput(field: field, reason: reason)
        case let .RateLimited(secs): return PraxisError.rateLimited(retryAfterSeconds: Int(clamping: secs))
        case .Forbidden: return PraxisError.forbidden
        case .NotFound: return PraxisError.notFound
        case let .ConsentRequired(purpose): return PraxisError.consentRequired(purpose: purpose)
        case .PolicyDisabled: return PraxisError.policyDisabled
        case .Restricted: return PraxisError.restricted
        case .KeyMismatch: return PraxisError.keyMismatch
        case let .KeyProvider(reason): return PraxisError.keyUnavailable(reason: reason)
        case .Storage: return PraxisError.storage
        case let .Server(status): return PraxisError.server(status: Int(status))
        }
    }
}

private func mapped<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw PraxisError.from(error) }
}

/// A count the core takes as UInt32 (minutes, hours, days), refused with
/// `.invalidInput` when negative or too large.
private func uint32(_ value: Int, field: String) throws -> UInt32 {
    guard let v = UInt32(exactly: value) else { throw PraxisError.invalidInput(field: field, reason: "out_of_range") }
    return v
}

private func uint32(_ value: Int?, field: String) throws -> UInt32? {
    guard let value else { return nil }
    return try uint32(value, field: field)
}

private func publicState(_ s: PraxisFFI.SessionState) -> SessionState {
    switch s {
    case .signedOut: return .signedOut
    case let .signedIn(userId): return .signedIn(userID: userId)
    case .needsReLogin: return .needsReLogin
    case .wiped: return .wiped
    }
}

/// The reason the core reports for a key provider's error: its own when it
/// gives one, the Keychain's status, or the error's type.
private func keyReason(_ error: Error) -> String {
    if case let PraxisError.keyUnavailable(reason) = error { return reason }
    #if canImport(Security)
    if let e = error as? KeychainError { return "keychain_\(e.operation)_\(e.status)" }
    #endif
    return String(describing: type(of: error))
}

private final class KeyProviderAdapter: PraxisFFI.KeyProvider, @unchecked Sendable {
    let inner: PraxisKeyProvider
    init(_ inner: PraxisKeyProvider) { self.inner = inner }
    func keyEncryptionKey() throws -> Data {
        do { return try inner.key() } catch { throw PraxisFFI.PraxisError.KeyProvider(reason: keyReason(error)) }
    }
    func forget() throws {
        do { try inner.forget() } catch { throw PraxisFFI.PraxisError.KeyProvider(reason: keyReason(error)) }
    }
}

// The listeners below feed AsyncStreams. The core holds a listener until
// the subscription is cancelled (the stream's iteration ended) or the core
// is released; the stream then finishes, so a `for await` never hangs.

private final class Listener: PraxisFFI.SessionListener, @unchecked Sendable {
    let continuation: AsyncStream<SessionState>.Continuation
    init(_ c: AsyncStream<SessionState>.Continuation) { continuation = c }
    deinit { continuation.finish() }
    func onUpdate(state: PraxisFFI.SessionState) { continuation.yield(publicState(state)) }
}

public struct Profile: Sendable, Equatable, CustomStringConvertible {
    public let userID, email, fullName, phone, country, language, profession, dateOfBirth: String
    /// Whether the address was proved with a mailed code.
    public let emailVerified: Bool
    // Personal data stays out of logs and crash reports.
    public var description: String { "Profile(userID: \(userID))" }
}

private func publicProfile(_ p: PraxisFFI.Profile) -> Profile {
    Profile(userID: p.userId, email: p.email, fullName: p.fullName, phone: p.phone, country: p.country,
            language: p.language, profession: p.profession, dateOfBirth: p.dateOfBirth,
            emailVerified: p.emailVerified)
}

public typealias Purpose = PraxisFFI.Purpose
public typealias Role = PraxisFFI.Role
public typealias Member = PraxisFFI.Member
public typealias JoinCodeInfo = PraxisFFI.JoinCodeInfo
public typealias PolicyChangeEntry = PraxisFFI.PolicyChangeEntry
public typealias DevicePlatform = PraxisFFI.Platform
public typealias Precision = PraxisFFI.Precision
public typealias GateClosed = PraxisFFI.GateClosed
public typealias LocationPermission = PraxisFFI.LocationPermission
public typealias ConsentStatus = PraxisFFI.ConsentStatus
public typealias VisitEvent = PraxisFFI.VisitEvent
public typealias VisitKind = PraxisFFI.VisitKind
public typealias GeoPoint = PraxisFFI.GeoPoint
public typealias Geofence = PraxisFFI.Geofence
/// What `startLiveSync()` and `startAutoSync()` return: `cancel()` stops it.
public typealias TaskHandle = PraxisFFI.TaskHandle
public typealias LiveShare = PraxisFFI.LiveShare
public typealias SharedLocation = PraxisFFI.SharedLocation
public typealias LocationPolicy = PraxisFFI.LocationPolicy
public typealias ContactCard = PraxisFFI.ContactCard
public typealias Contact = PraxisFFI.Contact
public typealias ContactInvitation = PraxisFFI.ContactInvitation
public typealias AuditEvent = PraxisFFI.AuditEvent
/// What an erasure of location data removed, and what is held (restricted) until when.
public typealias LocationErasure = PraxisFFI.LocationErasure
/// A processing on legitimate interest (GDPR Art. 21): what an objection stops, or why it continues.
public typealias Objection = PraxisFFI.Objection
/// What happens to the user's data after their death.
public typealias PostMortemAction = PraxisFFI.PostMortemAction
public typealias PostMortemDirective = PraxisFFI.PostMortemDirective
/// The privacy notice in force and whether the user has yet to be told it
/// changed (`changed`: show it once, then `acknowledgePrivacyNotice`).
public typealias PrivacyNoticeStatus = PraxisFFI.PrivacyNoticeStatus
public typealias PrivacyNotice = PraxisFFI.PrivacyNotice
public typealias NoticeController = PraxisFFI.NoticeController
public typealias NoticeContact = PraxisFFI.NoticeContact
public typealias NoticeAuthority = PraxisFFI.NoticeAuthority
public typealias PublishedConsentVersion = PraxisFFI.PublishedConsentVersion
/// A usage-event property: a flag, a count (0 to 10,000) or a token (a-z, 0-9, _).
public typealias AnalyticsValue = PraxisFFI.AnalyticsValue
public typealias AnalyticsCount = PraxisFFI.AnalyticsCount
public typealias Appointment = PraxisFFI.Appointment
public typealias AppointmentStatus = PraxisFFI.AppointmentStatus
/// `pending` local changes not yet sent; `received` server changes applied
/// so far in the running sync (in the last one when idle), the progress of
/// a large first sync.
public typealias SyncStatus = PraxisFFI.SyncStatus
public typealias SyncState = PraxisFFI.SyncState

// Personal data stays out of logs and crash reports: the generated values
// that carry some describe themselves without it (as Kotlin's toString).
extension PraxisFFI.Appointment: CustomStringConvertible {
    public var description: String { "Appointment(id: \(id), start: \(start), status: \(status))" }
}
extension PraxisFFI.GeoPoint: CustomStringConvertible {
    public var description: String { "GeoPoint([redacted])" }
}
extension PraxisFFI.ContactCard: CustomStringConvertible {
    public var description: String { "ContactCard([redacted])" }
}
extension PraxisFFI.Contact: CustomStringConvertible {
    public var description: String { "Contact(ownerId: \(ownerId), sharedFields: \(sharedFields))" }
}
extension PraxisFFI.ContactInvitation: CustomStringConvertible {
    public var description: String { "ContactInvitation(invitationId: \(invitationId), expiresAt: \(expiresAt))" }
}
extension PraxisFFI.Member: CustomStringConvertible {
    public var description: String { "Member(userId: \(userId), role: \(role))" }
}
extension PraxisFFI.SharedLocation: CustomStringConvertible {
    public var description: String { "SharedLocation(shareId: \(shareId))" }
}
extension PraxisFFI.VisitEvent: CustomStringConvertible {
    public var description: String { "VisitEvent(id: \(id), kind: \(kind), at: \(at))" }
}
extension PraxisFFI.LiveShare: CustomStringConvertible {
    public var description: String { "LiveShare(shareId: \(shareId), expiresAt: \(expiresAt))" }
}
extension PraxisFFI.PostMortemDirective: CustomStringConvertible {
    public var description: String { "PostMortemDirective(action: \(action))" }
}
extension PraxisFFI.PrivacyNotice: CustomStringConvertible {
    public var description: String { "PrivacyNotice(version: \(version), published: \(published))" }
}
extension PraxisFFI.PrivacyNoticeStatus: CustomStringConvertible {
    public var description: String { "PrivacyNoticeStatus(version: \(notice.version), changed: \(changed))" }
}
extension PraxisFFI.NoticeContact: CustomStringConvertible {
    public var description: String { "NoticeContact([redacted])" }
}

/// A position from Core Location (`CLLocation` gives all four values).
public struct Fix: Sendable, CustomStringConvertible {
    public let latitude: Double
    public let longitude: Double
    public let accuracyMeters: Double
    public let timestamp: Date
    public init(latitude: Double, longitude: Double, accuracyMeters: Double, timestamp: Date = Date()) {
        self.latitude = latitude
        self.longitude = longitude
        self.accuracyMeters = accuracyMeters
        self.timestamp = timestamp
    }
    // Coordinates are personal data: keep them out of logs.
    public var description: String { "Fix(timestamp: \(timestamp))" }
    var ffi: PraxisFFI.Fix {
        PraxisFFI.Fix(lat: latitude, lon: longitude, accuracyM: accuracyMeters, time: timestamp, source: .fused)
    }
}

private final class PermissionListener: PraxisFFI.LocationListener, @unchecked Sendable {
    let continuation: AsyncStream<[LocationPermission]>.Continuation
    init(_ c: AsyncStream<[LocationPermission]>.Continuation) { continuation = c }
    deinit { continuation.finish() }
    func onUpdate(permissions: [PraxisFFI.LocationPermission]) { continuation.yield(permissions) }
}

private final class SyncStatusListener: PraxisFFI.SyncListener, @unchecked Sendable {
    let continuation: AsyncStream<SyncStatus>.Continuation
    init(_ c: AsyncStream<SyncStatus>.Continuation) { continuation = c }
    deinit { continuation.finish() }
    func onUpdate(status: PraxisFFI.SyncStatus) { continuation.yield(status) }
}

/// One signed-in device of the user; `current` is this one.
public struct DeviceSession: Sendable, Equatable, CustomStringConvertible {
    public let id: String
    public let deviceName: String?
    public let platform: DevicePlatform?
    public let createdAt: Date
    public let lastUsedAt: Date
    public let current: Bool
    public var description: String { "DeviceSession(id: \(id), current: \(current))" }
}

/// The user's signed-in devices. Ending one with `wipe: true` makes it
/// delete the user's data at its next contact (a lost or stolen phone); a
/// wipe needs `reauthenticate` within the five minutes before.
public final class PraxisDevices: Sendable {
    private let inner: Devices

    init(_ inner: Devices) { self.inner = inner }

    public func sessions() async throws -> [DeviceSession] {
        try await mapped {
            try await inner.sessions().map {
                DeviceSession(id: $0.id, deviceName: $0.deviceName, platform: $0.platform,
                              createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt, current: $0.current)
            }
        }
    }

    /// Signs one device out; ending this device's own session is a logout.
    public func endSession(id: String, wipe: Bool = false) async throws {
        try await mapped { try await inner.endSession(id: id, wipe: wipe) }
    }

    public func endOtherSessions(wipe: Bool = false) async throws {
        try await mapped { try await inner.endOtherSessions(wipe: wipe) }
    }
}

/// Running an organisation: roles, removal, leaving, renaming, join codes,
/// the audit log and the location policy's change log. A member gets
/// `.forbidden`; the last admin cannot step down or leave while others
/// remain (`.conflict(code: "last_admin")`).
public final class PraxisOrgAdmin: Sendable {
    private let inner: OrgAdmin

    init(_ inner: OrgAdmin) { self.inner = inner }

    public func setMemberRole(orgID: String, userID: String, role: Role) async throws {
        try await mapped { try await inner.setMemberRole(orgId: orgID, userId: userID, role: role) }
    }

    public func removeMember(orgID: String, userID: String) async throws {
        try await mapped { try await inner.removeMember(orgId: orgID, userId: userID) }
    }

    public func leave(orgID: String) async throws { try await mapped { try await inner.leave(orgId: orgID) } }

    /// Renames the organisation; its new name.
    public func rename(orgID: String, name: String) async throws -> String {
        try await mapped { try await inner.rename(orgId: orgID, name: name).name }
    }

    public func joinCodes(orgID: String) async throws -> [JoinCodeInfo] {
        try await mapped { try await inner.joinCodes(orgId: orgID) }
    }

    public func revokeJoinCode(orgID: String, codeID: String) async throws {
        try await mapped { try await inner.revokeJoinCode(orgId: orgID, codeId: codeID) }
    }

    public func auditLog(orgID: String) async throws -> [AuditEvent] {
        try await mapped { try await inner.auditLog(orgId: orgID) }
    }

    public func policyChanges(orgID: String) async throws -> [PolicyChangeEntry] {
        try await mapped { try await inner.policyChanges(orgId: orgID) }
    }
}

/// The Praxis core on this device (named apart from the module, so
/// `Praxis.PraxisError` resolves).
public final class PraxisCore: Sendable {
    private let inner: PraxisClient
    // The core's capabilities, one object each (fetched once).
    private let accountApi: PraxisFFI.Account
    private let appointmentsApi: PraxisFFI.Appointments
    private let syncApi: PraxisFFI.SyncService
    private let consentsApi: PraxisFFI.Consents
    private let locationApi: PraxisFFI.Location
    private let contactsApi: PraxisFFI.Contacts
    private let rightsApi: PraxisFFI.Rights
    private let analyticsApi: PraxisFFI.Analytics
    private let noticesApi: PraxisFFI.Notices

    private init(_ inner: PraxisClient) {
        self.inner = inner
        accountApi = inner.account()
        appointmentsApi = inner.appointments()
        syncApi = inner.sync()
        consentsApi = inner.consents()
        locationApi = inner.location()
        contactsApi = inner.contacts()
        rightsApi = inner.rights()
        analyticsApi = inner.analytics()
        noticesApi = inner.notices()
    }

    /// Opens the core. `spkiPins`: SHA-256 hashes of the server keys to accept (empty: no
    /// pinning); `extraRootCertificates`: CA certificates (DER) trusted besides the public
    /// roots, e.g. the organisation's private CA.
    ///
    /// A backup restored onto a new iPhone brings `dataDirectory` but not the Keychain key
    /// (`ThisDeviceOnly`), so the key no longer opens the cache: `.keyMismatch`. With
    /// `resetOnKeyMismatch` the core then deletes the cache, has `keyProvider` forget its key
    /// and opens empty (signed out: the user signs in again and the server's copy syncs back;
    /// edits never synced are lost, which is why it is the app's choice).
    public static func open(serverURL: URL, dataDirectory: URL, keyProvider: PraxisKeyProvider,
                            requestTimeout: TimeInterval = 30, deviceName: String? = nil,
                            spkiPins: [Data] = [], extraRootCertificates: [Data] = [],
                            resetOnKeyMismatch: Bool = false) async throws -> PraxisCore {
        try await mapped {
            let ms = UInt64(max(requestTimeout, 0.001) * 1000)
            let config = ClientConfig(serverUrl: serverURL.absoluteString, dataDir: dataDirectory.path,
                                      requestTimeoutMs: ms, spkiPins: spkiPins,
                                      deviceName: deviceName, platform: .ios,
                                      extraRootCertificates: extraRootCertificates,
                                      resetOnKeyMismatch: resetOnKeyMismatch)
            return PraxisCore(try await PraxisClient.open(config: config, keyProvider: KeyProviderAdapter(keyProvider),
                                                          logger: nil))
        }
    }

    public var session: SessionState { publicState(inner.sessionState()) }

    /// Whether someone is signed in.
    public var isSignedIn: Bool { inner.isSignedIn() }

    /// The core's version (an about screen).
    public static func version() -> String { coreVersion() }

    /// Seconds the server's clock is ahead of this device's (negative when
    /// the device is ahead), when the last answer showed the device clock
    /// more than two minutes off; nil otherwise. The core already runs on
    /// the server's time: show the user that the clock is wrong.
    public var clockSkewSeconds: Int64? { inner.clockSkewSeconds() }

    /// The session state now and at every change (only the newest is kept
    /// for a slow reader); finishes when the core is released.
    public var sessionStates: AsyncStream<SessionState> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = inner.subscribeSession(listener: Listener(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    public func register(email: String, password: String, fullName: String, phone: String, country: String,
                         language: String, profession: String, dateOfBirth: String) async throws -> String {
        try await mapped {
            try await inner.register(registration: Registration(
                email: email, password: password, fullName: fullName, phone: phone, country: country,
                language: language, profession: profession, dateOfBirth: dateOfBirth))
        }
    }

    public func login(email: String, password: String) async throws -> String {
        try await mapped { try await inner.login(email: email, password: password) }
    }

    public func logout() async throws { try await mapped { try await inner.logout() } }

    /// Changes the password (`current` may be nil within five minutes of
    /// `reauthenticate`). The user's other devices are signed out; this one stays.
    public func changePassword(current: String?, newPassword: String) async throws {
        try await mapped { try await accountApi.changePassword(current: current, newPassword: newPassword) }
    }

    /// Mails a password reset code (no sign-in needed; the same answer for any address).
    public func requestPasswordReset(email: String) async throws {
        try await mapped { try await accountApi.requestPasswordReset(email: email) }
    }

    /// Sets a new password with the mailed code; every session ends, this one too.
    public func resetPassword(email: String, code: String, newPassword: String) async throws {
        try await mapped { try await accountApi.resetPassword(email: email, code: code, newPassword: newPassword) }
    }

    /// Proves the email address with the mailed code.
    public func verifyEmail(code: String) async throws {
        try await mapped { try await accountApi.verifyEmail(code: code) }
    }

    /// Mails a new verification code; false when the address is already verified.
    public func resendVerification() async throws -> Bool {
        try await mapped { try await accountApi.resendVerification() }
    }

    /// The members of an organisation the user belongs to.
    public func members(orgID: String) async throws -> [Member] {
        try await mapped { try await accountApi.members(orgId: orgID) }
    }

    /// Organisation administration.
    public var orgAdmin: PraxisOrgAdmin { PraxisOrgAdmin(inner.orgAdmin()) }

    /// The user's signed-in devices, and remote sign-out and wipe.
    public var devices: PraxisDevices { PraxisDevices(inner.devices()) }

    public func profile() async throws -> Profile { try await mapped { publicProfile(try await accountApi.profile()) } }

    public func cachedProfile() async throws -> Profile? {
        try await mapped { try await accountApi.cachedProfile().map(publicProfile) }
    }

    /// Confirms the password; changing the login email needs it in the five minutes before.
    public func reauthenticate(password: String) async throws { try await mapped { try await inner.reauthenticate(password: password) } }

    /// Changes fields of the profile (nil: unchanged). A new `email` (the
    /// login) needs `reauthenticate` in the five minutes before.
    public func updateProfile(email: String? = nil, fullName: String? = nil, phone: String? = nil,
                              country: String? = nil, language: String? = nil, profession: String? = nil,
                              dateOfBirth: String? = nil) async throws -> Profile {
        try await mapped {
            publicProfile(try await accountApi.updateProfile(update: ProfileUpdate(
                email: email, fullName: fullName, phone: phone, country: country, language: language,
                profession: profession, dateOfBirth: dateOfBirth)))
        }
    }

    public func createOrg(name: String) async throws -> String { try await mapped { try await accountApi.createOrg(name: name) } }

    public func joinOrg(code: String) async throws -> String { try await mapped { try await accountApi.joinOrg(code: code) } }

    public func createJoinCode(orgID: String) async throws -> String {
        try await mapped { try await accountApi.createJoinCode(orgId: orgID).code }
    }

    @discardableResult
    public func syncNow(reason: String = "app") async throws -> SyncStatus {
        try await mapped { try await syncApi.syncNow(reason: reason) }
    }

    /// The sync status now and at every change (only the newest is kept
    /// for a slow reader).
    public var syncStatuses: AsyncStream<SyncStatus> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = syncApi.subscribeSync(listener: SyncStatusListener(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// The appointments in the encrypted cache, by start time.
    public func appointments() async throws -> [Appointment] {
        try await mapped { try await appointmentsApi.list() }
    }

    /// The appointment list now and after every sync that changed it (with
    /// `startLiveSync()`, as other devices make their changes). A screen
    /// iterates this instead of polling; cancelling the iteration stops it.
    public var appointmentLists: AsyncThrowingStream<[Appointment], Error> {
        let statuses = syncStatuses
        return AsyncThrowingStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                var last: [Appointment]?
                for await _ in statuses {
                    do {
                        let list = try await self.appointments()
                        if list != last {
                            last = list
                            continuation.yield(list)
                        }
                    } catch {
                        continuation.finish(throwing: error)
                        return
                    }
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Keeps this device current until the returned handle is cancelled
    /// (start it when the scene becomes active, cancel it when it leaves):
    /// auto sync plus the server's change feed, so other devices' edits,
    /// admin policy changes and revoked contact cards arrive within a second.
    public func startLiveSync() -> TaskHandle { syncApi.startLiveSync() }

    /// Syncs in the background until the returned handle is cancelled (no
    /// change feed: `startLiveSync()` adds it).
    public func startAutoSync() -> TaskHandle { syncApi.startAutoSync() }

    /// Registers this sign-in's APNs device token (from
    /// `application(_:didRegisterForRemoteNotificationsWithDeviceToken:)`,
    /// hex-encoded): the server then wakes the app when its data changes.
    public func registerPushToken(apnsToken: String) async throws {
        try await mapped { try await syncApi.registerPushToken(platform: .apns, token: apnsToken) }
    }

    /// Stops background wake-ups for this sign-in.
    public func removePushToken() async throws { try await mapped { try await syncApi.removePushToken() } }

    /// A silent notification arrived (`content-available`, type
    /// `praxis.sync`): one sync within 25 seconds; call the fetch
    /// completion handler after it.
    @discardableResult
    public func handleWakeUp() async throws -> SyncStatus {
        try await mapped { try await syncApi.handleWakeUp() }
    }

    // MARK: consent

    public func grantConsent(_ purpose: Purpose) async throws { try await mapped { try await consentsApi.grantConsent(purpose: purpose) } }

    /// Withdraws consent: processing for the purpose stops at once, on this device first.
    public func withdrawConsent(_ purpose: Purpose) async throws { try await mapped { try await consentsApi.withdrawConsent(purpose: purpose) } }

    public func consentStatus() async throws -> [ConsentStatus] { try await mapped { try await consentsApi.consentStatus() } }

    public func purposesNeedingReconsent() async throws -> [Purpose] {
        try await mapped { try await consentsApi.purposesNeedingReconsent() }
    }

    // MARK: location

    /// Both location permissions (visits, sharing), now and at every change
    /// (only the newest is kept for a slow reader).
    public var locationPermissions: AsyncStream<[LocationPermission]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = locationApi.subscribeLocation(listener: PermissionListener(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    public func setLocationPrecision(_ precision: Precision) async throws {
        try await mapped { try await locationApi.setLocationPrecision(precision: precision) }
    }

    /// Records a check-in; throws `.policyDisabled`, `.consentRequired` or `.restricted` when a gate is closed.
    public func checkIn(appointmentID: String, fix: Fix) async throws -> VisitEvent {
        try await mapped { try await locationApi.checkIn(appointmentId: appointmentID, fix: fix.ffi) }
    }

    public func checkOut(appointmentID: String, fix: Fix) async throws -> VisitEvent {
        try await mapped { try await locationApi.checkOut(appointmentId: appointmentID, fix: fix.ffi) }
    }

    /// Records a visit (offline first: it syncs later); its id. The place
    /// (`latitude` and `longitude` together) lets check-in tell whether
    /// the practitioner is there.
    public func createAppointment(title: String, start: Date, durationMinutes: Int, patientLabel: String? = nil,
                                  address: String? = nil, latitude: Double? = nil,
                                  longitude: Double? = nil) async throws -> String {
        try await mapped {
            var point: GeoPoint?
            if let latitude, let longitude { point = GeoPoint(lat: latitude, lon: longitude) }
            return try await appointmentsApi.createAppointment(appointment: NewAppointment(
                title: title, patientLabel: patientLabel, start: start,
                durationMin: try uint32(durationMinutes, field: "duration_min"), address: address,
                point: point, geofence: nil))
        }
    }

    /// Changes fields of a visit (nil: unchanged).
    public func updateAppointment(id: String, title: String? = nil, status: AppointmentStatus? = nil,
                                  address: String? = nil, start: Date? = nil, durationMinutes: Int? = nil) async throws {
        try await mapped {
            try await appointmentsApi.updateAppointment(id: id, patch: AppointmentPatch(
                title: title, patientLabel: nil, start: start,
                durationMin: try uint32(durationMinutes, field: "duration_min"), status: status,
                address: address, point: nil))
        }
    }

    public func deleteAppointment(id: String) async throws { try await mapped { try await appointmentsApi.deleteAppointment(id: id) } }

    /// Whether location may be used for `purpose` now, and how precisely.
    public func locationPermission(_ purpose: Purpose) async throws -> LocationPermission {
        try await mapped { try await locationApi.locationPermission(purpose: purpose) }
    }

    /// The check-in and check-out of a visit.
    public func visitEvents(appointmentID: String) async throws -> [VisitEvent] {
        try await mapped { try await locationApi.visitEvents(appointmentId: appointmentID) }
    }

    public func startLocationShare(recipients: [String], durationMinutes: Int) async throws -> LiveShare {
        try await mapped {
            try await locationApi.startLocationShare(recipients: recipients,
                                               durationMin: try uint32(durationMinutes, field: "duration_min"))
        }
    }

    /// Sends a fix to the live shares still running; returns how many received it.
    @discardableResult
    public func shareLocation(_ fix: Fix) async throws -> Int {
        try await mapped { Int(try await locationApi.shareLocation(fix: fix.ffi)) }
    }

    public func stopLocationShare(shareID: String) async throws {
        try await mapped { try await locationApi.stopLocationShare(shareId: shareID) }
    }

    public func sharedWithMe() async throws -> [SharedLocation] { try await mapped { try await locationApi.sharedWithMe() } }

    // MARK: organisation location policy (admins)

    public func locationPolicy(orgID: String) async throws -> LocationPolicy {
        try await mapped { try await locationApi.locationPolicy(orgId: orgID) }
    }

    public func updateLocationPolicy(orgID: String, locationVisits: Bool? = nil, locationSharing: Bool? = nil,
                                     maxPrecision: Precision? = nil, retentionDays: Int? = nil,
                                     visitRecordsDays: Int? = nil) async throws -> LocationPolicy {
        try await mapped {
            try await locationApi.updateLocationPolicy(orgId: orgID, update: LocationPolicyUpdate(
                locationVisits: locationVisits, locationSharing: locationSharing,
                maxPrecision: maxPrecision, retentionDays: try uint32(retentionDays, field: "retention_days"),
                visitRecordsDays: try uint32(visitRecordsDays, field: "visit_records_days")))
        }
    }

    /// Switches location off (or back on) for one member (admins).
    public func setMemberLocation(orgID: String, userID: String, enabled: Bool) async throws {
        try await mapped { try await locationApi.setMemberLocation(orgId: orgID, userId: userID, enabled: enabled) }
    }

    public func setRestricted(_ restricted: Bool) async throws { try await mapped { try await rightsApi.setRestricted(restricted: restricted) } }

    // MARK: contacts

    public func myCard() async throws -> ContactCard { try await mapped { try await contactsApi.myCard() } }

    public func updateCard(_ card: ContactCard) async throws -> ContactCard {
        try await mapped { try await contactsApi.updateCard(card: card) }
    }

    /// A single-use invitation: show `code` as a QR code or share it as a link.
    public func createInvitation(fields: [String], allowForward: Bool = false, ttlHours: Int? = nil) async throws -> ContactInvitation {
        try await mapped {
            try await contactsApi.createInvitation(fields: fields, allowForward: allowForward,
                                             ttlHours: try uint32(ttlHours, field: "ttl_hours"))
        }
    }

    /// Accepts an invitation (checked on the device first); returns the inviter's id.
    public func acceptInvitation(code: String, fields: [String], allowForward: Bool = false) async throws -> String {
        try await mapped { try await contactsApi.acceptInvitation(code: code, fields: fields, allowForward: allowForward) }
    }

    public func contacts() async throws -> [Contact] { try await mapped { try await contactsApi.list() } }

    public func revokeContact(userID: String) async throws { try await mapped { try await contactsApi.revokeContact(userId: userID) } }

    public func declineInvitation(code: String) async throws { try await mapped { try await contactsApi.declineInvitation(code: code) } }

    /// Passes a card the user holds (if its owner allowed it) to a colleague.
    public func forwardContact(ownerID: String, to: String) async throws {
        try await mapped { try await contactsApi.forwardContact(ownerId: ownerID, to: to) }
    }

    /// Blocks a user: no invitation or forwarded card from them reaches this account.
    public func blockUser(userID: String) async throws { try await mapped { try await contactsApi.blockUser(userId: userID) } }

    // MARK: analytics

    /// Counts one usage event; `false` when dropped because the user does not consent to analytics.
    /// An event carrying a part of the user's name, email or phone throws `.invalidInput`.
    @discardableResult
    public func recordAnalyticsEvent(_ event: String, props: [String: AnalyticsValue] = [:]) async throws -> Bool {
        try await mapped { try await analyticsApi.recordAnalyticsEvent(event: event, props: props) }
    }

    /// Takes the counts recorded so far (deleted from the device) to ship to the analytics endpoint.
    public func drainAnalytics() async throws -> [AnalyticsCount] { try await mapped { try await analyticsApi.drainAnalytics() } }

    // MARK: rights

    /// Fetches the privacy notice in force (no sign-in needed: show it before registering); offline, the copy held.
    public func fetchPrivacyNotice() async throws -> PrivacyNoticeStatus {
        try await mapped { try await noticesApi.fetchPrivacyNotice() }
    }

    /// The privacy notice held on this device, without the network.
    public func privacyNotice() async throws -> PrivacyNoticeStatus? {
        try await mapped { try await noticesApi.privacyNotice() }
    }

    /// The user was shown notice `version`: its `changed` flag goes down (not if a newer one arrived meanwhile).
    @discardableResult
    public func acknowledgePrivacyNotice(version: UInt32) async throws -> Bool {
        try await mapped { try await noticesApi.acknowledgePrivacyNotice(version: version) }
    }

    /// Downloads everything the server holds about the user (encrypted when a passphrase is given).
    @discardableResult
    public func exportData(to url: URL, passphrase: String? = nil) async throws -> Int {
        try await mapped { Int(clamping: try await rightsApi.exportData(path: url.path, passphrase: passphrase)) }
    }

    /// What happens to the user's data after their death (the default: erasure).
    public func postMortem() async throws -> PostMortemDirective { try await mapped { try await rightsApi.postMortem() } }

    /// Records the post-mortem directive: `.erase`, or hand the export to a person, then erase.
    public func setPostMortem(_ action: PostMortemAction, recipientName: String? = nil, recipientEmail: String? = nil,
                              message: String? = nil) async throws -> PostMortemDirective {
        try await mapped {
            try await rightsApi.setPostMortem(action: action, recipientName: recipientName,
                                          recipientEmail: recipientEmail, message: message)
        }
    }

    /// Removes the post-mortem directive: erasure applies again.
    public func removePostMortem() async throws { try await mapped { try await rightsApi.removePostMortem() } }

    /// The processing on legitimate interest, and whether the user objects to each.
    public func objections() async throws -> [Objection] { try await mapped { try await rightsApi.objections() } }

    /// Objects to `basis` (or withdraws the objection); the answer says what stops and what continues, and why.
    public func setObjection(basis: String, objected: Bool = true) async throws -> Objection {
        try await mapped { try await rightsApi.setObjection(basis: basis, objected: objected) }
    }

    /// Erases the location data collected under `purpose` (nil: both location purposes), typically after
    /// withdrawing its consent: on the server, on this device at once, on the other devices at their next sync.
    public func eraseLocationData(purpose: Purpose? = nil) async throws -> LocationErasure {
        try await mapped { try await rightsApi.eraseLocationData(purpose: purpose) }
    }

    /// Erases the account after confirming the password; this device is wiped, the others at their next contact.
    public func deleteAccount(password: String) async throws { try await mapped { try await rightsApi.deleteAccount(password: password) } }

    public func auditLog() async throws -> [AuditEvent] { try await mapped { try await rightsApi.auditLog() } }
}

#if canImport(Security)
/// A Keychain call that failed: which one and its `OSStatus` (e.g.
/// `errSecInteractionNotAllowed`, -25308: the device is locked).
public struct KeychainError: Error, Sendable, Equatable, CustomStringConvertible {
    public let operation: String
    public let status: OSStatus
    public var description: String { "KeychainError(\(operation), OSStatus \(status))" }
}

/// A key provider over the Keychain (Apple platforms only): a random 32-byte
/// key created once, readable from the first unlock after a restart until
/// the next restart (`AfterFirstUnlockThisDeviceOnly`, so background sync
/// works while the phone is locked), never synced to iCloud nor restored to
/// another device. A backup restored elsewhere therefore brings the data
/// without its key: open with `resetOnKeyMismatch: true` to start again
/// (the user signs in, the server's copy syncs back).
///
/// Only a missing item (`errSecItemNotFound`) creates a key. Any other
/// failure, a locked device above all, is thrown (as
/// `.keyUnavailable(reason: "keychain_read_-25308")`): replacing the key
/// then would make the data unreadable for good.
public struct KeychainKeyProvider: PraxisKeyProvider {
    public let service: String
    public init(service: String = "org.praxis.cache-kek") { self.service = service }

    private var query: [String: Any] {
        var q: [String: Any] = [kSecClass as String: kSecClassGenericPassword,
                                kSecAttrService as String: service,
                                kSecAttrSynchronizable as String: false]
        #if os(macOS)
        // The iOS-style keychain on macOS, where the accessibility class applies.
        q[kSecUseDataProtectionKeychain as String] = true
        #endif
        return q
    }

    public func key() throws -> Data {
        if let stored = try read() { return try checked(stored) }
        var fresh = Data(count: 32)
        let rc = fresh.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard rc == errSecSuccess else { throw KeychainError(operation: "random", status: rc) }
        var add = query
        add[kSecValueData as String] = fresh
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(add as CFDictionary, nil)
        switch status {
        case errSecSuccess:
            return fresh
        case errSecDuplicateItem:
            // Another thread or process stored one first: that one is the key.
            guard let stored = try read() else { throw KeychainError(operation: "add", status: status) }
            return try checked(stored)
        default:
            throw KeychainError(operation: "add", status: status)
        }
    }

    public func forget() throws {
        let status = SecItemDelete(query as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw KeychainError(operation: "delete", status: status)
        }
    }

    /// The stored key; nil only when there is none.
    private func read() throws -> Data? {
        var q = query
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var item: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &item)
        switch status {
        case errSecSuccess:
            guard let data = item as? Data else { throw KeychainError(operation: "read", status: errSecDecode) }
            return data
        case errSecItemNotFound:
            return nil
        default:
            throw KeychainError(operation: "read", status: status)
        }
    }

    private func checked(_ key: Data) throws -> Data {
        guard key.count == 32 else { throw KeychainError(operation: "length", status: errSecDecode) }
        return key
    }
}
#endif
