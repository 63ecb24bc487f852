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
    case signedIn(userId: String)
    case needsReLogin
    /// Signed out from another device with a wipe: this device's data was deleted.
    case wiped
}

public enum PraxisError: Error, Sendable, Equatable {
    case network(reason: String)
    case unauthorized
    case invalidCredentials
    case conflict(code: String)
    case invalidInput(field: String, reason: String)
    case rateLimited(retryAfterSeconds: UInt64)
    case forbidden
    case notFound
    case consentRequired(purpose: String)
    case policyDisabled
    case restricted
    case keyMismatch
    case keyUnavailable(reason: String)
    case storage
    case server(status: UInt16)
    case `internal`(String)
}

extension PraxisError {
    static func from(_ error: Error) -> Error {
        guard let e = error as? PraxisFFI.PraxisError else { return error }
        switch e {
        case let .Network(reason): return PraxisError.network(reason: reason)
        case .Unauthorized: return PraxisError.unauthorized
        case .InvalidCredentials: return PraxisError.invalidCredentials
        case let .Conflict(code): return PraxisError.conflict(code: code)
        case let .InvalidInput(field, reason): return PraxisError.invalidInput(field: field, reason: reason)
        case let .RateLimited(secs): return PraxisError.rateLimited(retryAfterSeconds: secs)
        case .Forbidden: return PraxisError.forbidden
        case .NotFound: return PraxisError.notFound
        case let .ConsentRequired(purpose): return PraxisError.consentRequired(purpose: purpose)
        case .PolicyDisabled: return PraxisError.policyDisabled
        case .Restricted: return PraxisError.restricted
        case .KeyMismatch: return PraxisError.keyMismatch
        case let .KeyProvider(reason): return PraxisError.keyUnavailable(reason: reason)
        case .Storage: return PraxisError.storage
        case let .Server(status): return PraxisError.server(status: status)
        }
    }
}

private func mapped<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch { throw PraxisError.from(error) }
}

private func publicState(_ s: PraxisFFI.SessionState) -> SessionState {
    switch s {
    case .signedOut: return .signedOut
    case let .signedIn(userId): return .signedIn(userId: userId)
    case .needsReLogin: return .needsReLogin
    case .wiped: return .wiped
    }
}

private final class KeyProviderAdapter: PraxisFFI.KeyProvider, @unchecked Sendable {
    let inner: PraxisKeyProvider
    init(_ inner: PraxisKeyProvider) { self.inner = inner }
    func keyEncryptionKey() throws -> Data {
        do { return try inner.key() } catch { throw PraxisFFI.PraxisError.KeyProvider(reason: "\(type(of: error))") }
    }
    func forget() throws {
        do { try inner.forget() } catch { throw PraxisFFI.PraxisError.KeyProvider(reason: "\(type(of: error))") }
    }
}

private final class Listener: PraxisFFI.SessionListener, @unchecked Sendable {
    let continuation: AsyncStream<SessionState>.Continuation
    init(_ c: AsyncStream<SessionState>.Continuation) { continuation = c }
    func onUpdate(state: PraxisFFI.SessionState) { continuation.yield(publicState(state)) }
}

public struct Profile: Sendable, Equatable, CustomStringConvertible {
    public let userId, email, fullName, phone, country, language, profession, dateOfBirth: String
    /// Whether the address was proved with a mailed code.
    public let emailVerified: Bool
    // Personal data stays out of logs and crash reports.
    public var description: String { "Profile(userId: \(userId))" }
}

private func publicProfile(_ p: PraxisFFI.Profile) -> Profile {
    Profile(userId: p.userId, email: p.email, fullName: p.fullName, phone: p.phone, country: p.country,
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
    func onUpdate(permissions: [PraxisFFI.LocationPermission]) { continuation.yield(permissions) }
}

private final class SyncStatusListener: PraxisFFI.SyncListener, @unchecked Sendable {
    let continuation: AsyncStream<SyncStatus>.Continuation
    init(_ c: AsyncStream<SyncStatus>.Continuation) { continuation = c }
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

    public func setMemberRole(orgId: String, userId: String, role: Role) async throws {
        try await mapped { try await inner.setMemberRole(orgId: orgId, userId: userId, role: role) }
    }

    public func removeMember(orgId: String, userId: String) async throws {
        try await mapped { try await inner.removeMember(orgId: orgId, userId: userId) }
    }

    public func leave(orgId: String) async throws { try await mapped { try await inner.leave(orgId: orgId) } }

    /// Renames the organisation; its new name.
    public func rename(orgId: String, name: String) async throws -> String {
        try await mapped { try await inner.rename(orgId: orgId, name: name).name }
    }

    public func joinCodes(orgId: String) async throws -> [JoinCodeInfo] {
        try await mapped { try await inner.joinCodes(orgId: orgId) }
    }

    public func revokeJoinCode(orgId: String, codeId: String) async throws {
        try await mapped { try await inner.revokeJoinCode(orgId: orgId, codeId: codeId) }
    }

    public func auditLog(orgId: String) async throws -> [AuditEvent] {
        try await mapped { try await inner.auditLog(orgId: orgId) }
    }

    public func policyChanges(orgId: String) async throws -> [PolicyChangeEntry] {
        try await mapped { try await inner.policyChanges(orgId: orgId) }
    }
}

/// The Praxis core on this device.
public final class Praxis: Sendable {
    private let inner: PraxisClient

    private init(_ inner: PraxisClient) { self.inner = inner }

    /// Opens the core. `spkiPins`: SHA-256 hashes of the server keys to accept (empty: no
    /// pinning); `extraRootCertificates`: CA certificates (DER) trusted besides the public
    /// roots, e.g. the organisation's private CA.
    public static func open(serverURL: URL, dataDirectory: URL, keyProvider: PraxisKeyProvider,
                            requestTimeout: TimeInterval = 30, deviceName: String? = nil,
                            spkiPins: [Data] = [], extraRootCertificates: [Data] = []) async throws -> Praxis {
        try await mapped {
            let ms = UInt64(max(requestTimeout, 0.001) * 1000)
            let config = ClientConfig(serverUrl: serverURL.absoluteString, dataDir: dataDirectory.path,
                                      requestTimeoutMs: ms, spkiPins: spkiPins,
                                      deviceName: deviceName, platform: .ios,
                                      extraRootCertificates: extraRootCertificates)
            return Praxis(try await PraxisClient.open(config: config, keyProvider: KeyProviderAdapter(keyProvider), logger: nil))
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

    /// The session state now and at every change.
    public var sessionStates: AsyncStream<SessionState> {
        AsyncStream { continuation in
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
        try await mapped { try await inner.changePassword(current: current, newPassword: newPassword) }
    }

    /// Mails a password reset code (no sign-in needed; the same answer for any address).
    public func requestPasswordReset(email: String) async throws {
        try await mapped { try await inner.requestPasswordReset(email: email) }
    }

    /// Sets a new password with the mailed code; every session ends, this one too.
    public func resetPassword(email: String, code: String, newPassword: String) async throws {
        try await mapped { try await inner.resetPassword(email: email, code: code, newPassword: newPassword) }
    }

    /// Proves the email address with the mailed code.
    public func verifyEmail(code: String) async throws {
        try await mapped { try await inner.verifyEmail(code: code) }
    }

    /// Mails a new verification code; false when the address is already verified.
    public func resendVerification() async throws -> Bool {
        try await mapped { try await inner.resendVerification() }
    }

    /// The members of an organisation the user belongs to.
    public func members(orgId: String) async throws -> [Member] {
        try await mapped { try await inner.members(orgId: orgId) }
    }

    /// Organisation administration.
    public var orgAdmin: PraxisOrgAdmin { PraxisOrgAdmin(inner.orgAdmin()) }

    /// The user's signed-in devices, and remote sign-out and wipe.
    public var devices: PraxisDevices { PraxisDevices(inner.devices()) }

    public func profile() async throws -> Profile { try await mapped { publicProfile(try await inner.profile()) } }

    public func cachedProfile() async throws -> Profile? {
        try await mapped { try await inner.cachedProfile().map(publicProfile) }
    }

    /// Confirms the password; changing the login email needs it in the five minutes before.
    public func reauthenticate(password: String) async throws { try await mapped { try await inner.reauthenticate(password: password) } }

    public func updateProfile(profession: String? = nil, fullName: String? = nil, phone: String? = nil) async throws -> Profile {
        try await mapped {
            publicProfile(try await inner.updateProfile(update: ProfileUpdate(
                email: nil, fullName: fullName, phone: phone, country: nil, language: nil,
                profession: profession, dateOfBirth: nil)))
        }
    }

    public func createOrg(name: String) async throws -> String { try await mapped { try await inner.createOrg(name: name) } }

    public func joinOrg(code: String) async throws -> String { try await mapped { try await inner.joinOrg(code: code) } }

    public func createJoinCode(orgId: String) async throws -> String {
        try await mapped { try await inner.createJoinCode(orgId: orgId).code }
    }

    @discardableResult
    public func syncNow(reason: String = "app") async throws -> SyncStatus {
        try await mapped { try await inner.syncNow(reason: reason) }
    }

    /// The sync status now and at every change (only the newest is kept
    /// for a slow reader).
    public var syncStatuses: AsyncStream<SyncStatus> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = inner.subscribeSync(listener: SyncStatusListener(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    /// The appointments in the encrypted cache, by start time.
    public func appointments() async throws -> [Appointment] {
        try await mapped { try await inner.appointments() }
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
    public func startLiveSync() -> TaskHandle { inner.startLiveSync() }

    /// Syncs in the background until the returned handle is cancelled (no
    /// change feed: `startLiveSync()` adds it).
    public func startAutoSync() -> TaskHandle { inner.startAutoSync() }

    /// Registers this sign-in's APNs device token (from
    /// `application(_:didRegisterForRemoteNotificationsWithDeviceToken:)`,
    /// hex-encoded): the server then wakes the app when its data changes.
    public func registerPushToken(apnsToken: String) async throws {
        try await mapped { try await inner.registerPushToken(platform: .apns, token: apnsToken) }
    }

    /// Stops background wake-ups for this sign-in.
    public func removePushToken() async throws { try await mapped { try await inner.removePushToken() } }

    /// A silent notification arrived (`content-available`, type
    /// `praxis.sync`): one sync within 25 seconds; call the fetch
    /// completion handler after it.
    @discardableResult
    public func handleWakeUp() async throws -> SyncStatus {
        try await mapped { try await inner.handleWakeUp() }
    }

    // MARK: consent

    public func grantConsent(_ purpose: Purpose) async throws { try await mapped { try await inner.grantConsent(purpose: purpose) } }

    /// Withdraws consent: processing for the purpose stops at once, on this device first.
    public func withdrawConsent(_ purpose: Purpose) async throws { try await mapped { try await inner.withdrawConsent(purpose: purpose) } }

    public func consentStatus() async throws -> [ConsentStatus] { try await mapped { try await inner.consentStatus() } }

    public func purposesNeedingReconsent() async throws -> [Purpose] {
        try await mapped { try await inner.purposesNeedingReconsent() }
    }

    // MARK: location

    /// Both location permissions (visits, sharing), now and at every change.
    public var locationPermissions: AsyncStream<[LocationPermission]> {
        AsyncStream { continuation in
            let handle = inner.subscribeLocation(listener: PermissionListener(continuation))
            continuation.onTermination = { _ in handle.cancel() }
        }
    }

    public func setLocationPrecision(_ precision: Precision) async throws {
        try await mapped { try await inner.setLocationPrecision(precision: precision) }
    }

    /// Records a check-in; throws `.policyDisabled`, `.consentRequired` or `.restricted` when a gate is closed.
    public func checkIn(appointmentId: String, fix: Fix) async throws -> VisitEvent {
        try await mapped { try await inner.checkIn(appointmentId: appointmentId, fix: fix.ffi) }
    }

    public func checkOut(appointmentId: String, fix: Fix) async throws -> VisitEvent {
        try await mapped { try await inner.checkOut(appointmentId: appointmentId, fix: fix.ffi) }
    }

    public func createAppointment(title: String, start: Date, durationMin: UInt32, latitude: Double, longitude: Double) async throws -> String {
        try await mapped {
            try await inner.createAppointment(appointment: NewAppointment(
                title: title, patientLabel: nil, start: start, durationMin: durationMin, address: nil,
                point: GeoPoint(lat: latitude, lon: longitude), geofence: nil))
        }
    }

    /// Changes fields of a visit (nil: unchanged).
    public func updateAppointment(id: String, title: String? = nil, status: AppointmentStatus? = nil,
                                  address: String? = nil, start: Date? = nil, durationMin: UInt32? = nil) async throws {
        try await mapped {
            try await inner.updateAppointment(id: id, patch: AppointmentPatch(
                title: title, patientLabel: nil, start: start, durationMin: durationMin, status: status,
                address: address, point: nil))
        }
    }

    public func deleteAppointment(id: String) async throws { try await mapped { try await inner.deleteAppointment(id: id) } }

    /// Whether location may be used for `purpose` now, and how precisely.
    public func locationPermission(_ purpose: Purpose) async throws -> LocationPermission {
        try await mapped { try await inner.locationPermission(purpose: purpose) }
    }

    /// The check-in and check-out of a visit.
    public func visitEvents(appointmentId: String) async throws -> [VisitEvent] {
        try await mapped { try await inner.visitEvents(appointmentId: appointmentId) }
    }

    public func startLocationShare(recipients: [String], durationMin: UInt32) async throws -> LiveShare {
        try await mapped { try await inner.startLocationShare(recipients: recipients, durationMin: durationMin) }
    }

    /// Sends a fix to the live shares still running; returns how many received it.
    public func shareLocation(_ fix: Fix) async throws -> UInt32 {
        try await mapped { try await inner.shareLocation(fix: fix.ffi) }
    }

    public func stopLocationShare(shareId: String) async throws {
        try await mapped { try await inner.stopLocationShare(shareId: shareId) }
    }

    public func sharedWithMe() async throws -> [SharedLocation] { try await mapped { try await inner.sharedWithMe() } }

    // MARK: organisation location policy (admins)

    public func locationPolicy(orgId: String) async throws -> LocationPolicy {
        try await mapped { try await inner.locationPolicy(orgId: orgId) }
    }

    public func updateLocationPolicy(orgId: String, locationVisits: Bool? = nil, locationSharing: Bool? = nil,
                                     maxPrecision: Precision? = nil, retentionDays: UInt32? = nil,
                                     visitRecordsDays: UInt32? = nil) async throws -> LocationPolicy {
        try await mapped {
            try await inner.updateLocationPolicy(orgId: orgId, update: LocationPolicyUpdate(
                locationVisits: locationVisits, locationSharing: locationSharing,
                maxPrecision: maxPrecision, retentionDays: retentionDays, visitRecordsDays: visitRecordsDays))
        }
    }

    /// Switches location off (or back on) for one member (admins).
    public func setMemberLocation(orgId: String, userId: String, enabled: Bool) async throws {
        try await mapped { try await inner.setMemberLocation(orgId: orgId, userId: userId, enabled: enabled) }
    }

    public func setRestricted(_ restricted: Bool) async throws { try await mapped { try await inner.setRestricted(restricted: restricted) } }

    // MARK: contacts

    public func myCard() async throws -> ContactCard { try await mapped { try await inner.myCard() } }

    public func updateCard(_ card: ContactCard) async throws -> ContactCard {
        try await mapped { try await inner.updateCard(card: card) }
    }

    /// A single-use invitation: show `code` as a QR code or share it as a link.
    public func createInvitation(fields: [String], allowForward: Bool = false, ttlHours: UInt32? = nil) async throws -> ContactInvitation {
        try await mapped { try await inner.createInvitation(fields: fields, allowForward: allowForward, ttlHours: ttlHours) }
    }

    /// Accepts an invitation (checked on the device first); returns the inviter's id.
    public func acceptInvitation(code: String, fields: [String], allowForward: Bool = false) async throws -> String {
        try await mapped { try await inner.acceptInvitation(code: code, fields: fields, allowForward: allowForward) }
    }

    public func contacts() async throws -> [Contact] { try await mapped { try await inner.contacts() } }

    public func revokeContact(userId: String) async throws { try await mapped { try await inner.revokeContact(userId: userId) } }

    public func declineInvitation(code: String) async throws { try await mapped { try await inner.declineInvitation(code: code) } }

    /// Passes a card the user holds (if its owner allowed it) to a colleague.
    public func forwardContact(ownerId: String, to: String) async throws {
        try await mapped { try await inner.forwardContact(ownerId: ownerId, to: to) }
    }

    /// Blocks a user: no invitation or forwarded card from them reaches this account.
    public func blockUser(userId: String) async throws { try await mapped { try await inner.blockUser(userId: userId) } }

    // MARK: analytics

    /// Counts one usage event; `false` when dropped because the user does not consent to analytics.
    /// An event carrying a part of the user's name, email or phone throws `.invalidInput`.
    @discardableResult
    public func recordAnalyticsEvent(_ event: String, props: [String: AnalyticsValue] = [:]) async throws -> Bool {
        try await mapped { try await inner.recordAnalyticsEvent(event: event, props: props) }
    }

    /// Takes the counts recorded so far (deleted from the device) to ship to the analytics endpoint.
    public func drainAnalytics() async throws -> [AnalyticsCount] { try await mapped { try await inner.drainAnalytics() } }

    // MARK: rights

    /// Fetches the privacy notice in force (no sign-in needed: show it before registering); offline, the copy held.
    public func fetchPrivacyNotice() async throws -> PrivacyNoticeStatus {
        try await mapped { try await inner.fetchPrivacyNotice() }
    }

    /// The privacy notice held on this device, without the network.
    public func privacyNotice() async throws -> PrivacyNoticeStatus? {
        try await mapped { try await inner.privacyNotice() }
    }

    /// The user was shown notice `version`: its `changed` flag goes down (not if a newer one arrived meanwhile).
    @discardableResult
    public func acknowledgePrivacyNotice(version: UInt32) async throws -> Bool {
        try await mapped { try await inner.acknowledgePrivacyNotice(version: version) }
    }

    /// Downloads everything the server holds about the user (encrypted when a passphrase is given).
    public func exportData(to url: URL, passphrase: String? = nil) async throws -> UInt64 {
        try await mapped { try await inner.exportData(path: url.path, passphrase: passphrase) }
    }

    /// What happens to the user's data after their death (the default: erasure).
    public func postMortem() async throws -> PostMortemDirective { try await mapped { try await inner.postMortem() } }

    /// Records the post-mortem directive: `.erase`, or hand the export to a person, then erase.
    public func setPostMortem(_ action: PostMortemAction, recipientName: String? = nil, recipientEmail: String? = nil,
                              message: String? = nil) async throws -> PostMortemDirective {
        try await mapped {
            try await inner.setPostMortem(action: action, recipientName: recipientName,
                                          recipientEmail: recipientEmail, message: message)
        }
    }

    /// Removes the post-mortem directive: erasure applies again.
    public func removePostMortem() async throws { try await mapped { try await inner.removePostMortem() } }

    /// The processing on legitimate interest, and whether the user objects to each.
    public func objections() async throws -> [Objection] { try await mapped { try await inner.objections() } }

    /// Objects to `basis` (or withdraws the objection); the answer says what stops and what continues, and why.
    public func setObjection(basis: String, objected: Bool = true) async throws -> Objection {
        try await mapped { try await inner.setObjection(basis: basis, objected: objected) }
    }

    /// Erases the location data collected under `purpose` (nil: both location purposes), typically after
    /// withdrawing its consent: on the server, on this device at once, on the other devices at their next sync.
    public func eraseLocationData(purpose: Purpose? = nil) async throws -> LocationErasure {
        try await mapped { try await inner.eraseLocationData(purpose: purpose) }
    }

    /// Erases the account after confirming the password; this device is wiped, the others at their next contact.
    public func deleteAccount(password: String) async throws { try await mapped { try await inner.deleteAccount(password: password) } }

    public func auditLog() async throws -> [AuditEvent] { try await mapped { try await inner.auditLog() } }
}

#if canImport(Security)
/// A key provider over the Keychain (Apple platforms only): a random 32-byte
/// key created once, readable from the first unlock after a restart until
/// the next restart (`AfterFirstUnlockThisDeviceOnly`, so background sync
/// works while the phone is locked), never synced nor restored to another
/// device.
public struct KeychainKeyProvider: PraxisKeyProvider {
    public let service: String
    public init(service: String = "org.praxis.cache-kek") { self.service = service }

    public func key() throws -> Data {
        var query: [String: Any] = [kSecClass as String: kSecClassGenericPassword,
                                    kSecAttrService as String: service,
                                    kSecReturnData as String: true]
        var item: CFTypeRef?
        if SecItemCopyMatching(query as CFDictionary, &item) == errSecSuccess, let data = item as? Data {
            return data
        }
        var key = Data(count: 32)
        let rc = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard rc == errSecSuccess else { throw PraxisError.keyUnavailable(reason: "random") }
        query.removeValue(forKey: kSecReturnData as String)
        query[kSecValueData as String] = key
        query[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        guard SecItemAdd(query as CFDictionary, nil) == errSecSuccess else {
            throw PraxisError.keyUnavailable(reason: "keychain")
        }
        return key
    }

    public func forget() throws {
        let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service]
        SecItemDelete(query as CFDictionary)
    }
}
#endif
