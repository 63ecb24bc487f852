// The idiomatic Kotlin face of the Praxis core, shared by the Android
// library module and the JVM tests. It adapts the generated bindings to
// Kotlin: suspend functions, a Flow of session state, a sealed error
// hierarchy. It holds no logic of its own; everything happens in Rust.
package org.praxis

import java.io.File
import java.time.Instant
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import org.praxis.ffi.ClientConfig
import org.praxis.ffi.InternalException
import org.praxis.ffi.PraxisClient
import org.praxis.ffi.PraxisException
import org.praxis.ffi.protocol.ProfileUpdate
import org.praxis.ffi.protocol.Registration
import org.praxis.ffi.SessionListener
import org.praxis.ffi.SyncListener
import org.praxis.ffi.AppointmentPatch as FfiPatch
import org.praxis.ffi.NewAppointment as FfiNewAppointment
import org.praxis.ffi.SyncStatus as FfiSyncStatus
import org.praxis.ffi.SessionState as FfiSessionState

/** Supplies the 32-byte key that unlocks the local cache (see `KeystoreKeyProvider` on Android). */
interface KeyProvider {
    /** The key: exactly 32 bytes, the same every time. */
    fun key(): ByteArray

    /** Destroys the key when the local data is wiped. */
    fun forget() {}
}

/** Receives the core's log messages, which never contain personal data. */
fun interface Logger {
    fun log(level: LogLevel, target: String, message: String)
}

enum class LogLevel { ERROR, WARN, INFO, DEBUG }

/** Whether someone is signed in on this device. */
sealed interface SessionState {
    data object SignedOut : SessionState
    data class SignedIn(val userId: String) : SessionState
    /** The server ended the session: ask the user to sign in again. */
    data object NeedsReLogin : SessionState
    /** Signed out from another device with a wipe: this device's data was deleted. */
    data object Wiped : SessionState
}

/** Every failure of the core, as a closed hierarchy apps can `when` over. */
sealed class PraxisError(message: String, cause: Throwable? = null) : Exception(message, cause) {
    class Network(val reason: String, cause: Throwable?) : PraxisError("network unavailable ($reason)", cause)
    class Unauthorized(cause: Throwable?) : PraxisError("not signed in or session expired", cause)
    class InvalidCredentials(cause: Throwable?) : PraxisError("invalid email or password", cause)
    class Conflict(val code: String, cause: Throwable?) : PraxisError("conflict ($code)", cause)
    class InvalidInput(val field: String, val reason: String, cause: Throwable?) :
        PraxisError("invalid $field ($reason)", cause)
    class RateLimited(val retryAfter: Duration, cause: Throwable?) : PraxisError("rate limited", cause)
    class Forbidden(cause: Throwable?) : PraxisError("not allowed", cause)
    class NotFound(cause: Throwable?) : PraxisError("not found", cause)
    class ConsentRequired(val purpose: String, cause: Throwable?) : PraxisError("consent required ($purpose)", cause)
    class PolicyDisabled(cause: Throwable?) : PraxisError("disabled by the organisation", cause)
    class Restricted(cause: Throwable?) : PraxisError("account restricted", cause)
    class KeyMismatch(cause: Throwable?) : PraxisError("the key does not open the local data", cause)
    class KeyUnavailable(val reason: String, cause: Throwable?) : PraxisError("key provider failed", cause)
    class Storage(cause: Throwable?) : PraxisError("local storage failed", cause)
    class Server(val status: Int, cause: Throwable?) : PraxisError("server error ($status)", cause)
    /** A bug in the core (a caught panic); report it. */
    class Internal(cause: Throwable?) : PraxisError("internal error", cause)
}

internal fun Throwable.toPraxisError(): Throwable = when (this) {
    is PraxisException.Network -> PraxisError.Network(reason, this)
    is PraxisException.Unauthorized -> PraxisError.Unauthorized(this)
    is PraxisException.InvalidCredentials -> PraxisError.InvalidCredentials(this)
    is PraxisException.Conflict -> PraxisError.Conflict(code, this)
    is PraxisException.InvalidInput -> PraxisError.InvalidInput(field, reason, this)
    is PraxisException.RateLimited -> PraxisError.RateLimited(retryAfterSecs.toLong().seconds, this)
    is PraxisException.Forbidden -> PraxisError.Forbidden(this)
    is PraxisException.NotFound -> PraxisError.NotFound(this)
    is PraxisException.ConsentRequired -> PraxisError.ConsentRequired(purpose, this)
    is PraxisException.PolicyDisabled -> PraxisError.PolicyDisabled(this)
    is PraxisException.Restricted -> PraxisError.Restricted(this)
    is PraxisException.KeyMismatch -> PraxisError.KeyMismatch(this)
    is PraxisException.KeyProvider -> PraxisError.KeyUnavailable(reason, this)
    is PraxisException.Storage -> PraxisError.Storage(this)
    is PraxisException.Server -> PraxisError.Server(status.toInt(), this)
    is InternalException -> PraxisError.Internal(this)
    else -> this
}

private inline fun <T> mapped(block: () -> T): T =
    try {
        block()
    } catch (e: Throwable) {
        throw e.toPraxisError()
    }

private fun FfiSessionState.toPublic(): SessionState = when (this) {
    is FfiSessionState.SignedOut -> SessionState.SignedOut
    is FfiSessionState.SignedIn -> SessionState.SignedIn(userId)
    is FfiSessionState.NeedsReLogin -> SessionState.NeedsReLogin
    is FfiSessionState.Wiped -> SessionState.Wiped
}

data class Profile(
    val userId: String,
    val email: String,
    val fullName: String,
    val phone: String,
    val country: String,
    val language: String,
    val profession: String,
    val dateOfBirth: String,
    /** Whether the address was proved with a mailed code (a reset code only goes to a verified one). */
    val emailVerified: Boolean = false,
) {
    // Personal data stays out of logs and crash reports.
    override fun toString() = "Profile(userId=$userId)"
}

enum class AppointmentStatus { SCHEDULED, COMPLETED, CANCELLED, NO_SHOW }

data class GeoPoint(val lat: Double, val lon: Double) {
    // Coordinates are personal data: keep them out of logs.
    override fun toString() = "GeoPoint([redacted])"
}

/** A purpose the user consents to, separately. */
enum class Purpose { LOCATION_VISITS, LOCATION_SHARING, MARKETING, ANALYTICS }

/** How precise a location is; the core never uses more than the organisation allows. */
enum class Precision { OFF, APPROXIMATE, PRECISE }

/** The platform push service a token is from. */
enum class PushPlatform { FCM, APNS }

/** Which gate keeps location off. */
enum class GateClosed { RESTRICTED, POLICY_DISABLED, CONSENT_REQUIRED }

/** Whether location may be used for [purpose]: both the organisation and the user must allow it. */
data class LocationPermission(
    val purpose: Purpose,
    val closed: GateClosed?,
    val precision: Precision,
    val organisationAllows: Boolean,
    val consented: Boolean,
    val restricted: Boolean,
    val maxPrecision: Precision,
    val retentionDays: Int,
) {
    val allowed: Boolean get() = closed == null
}

data class ConsentStatus(
    val purpose: Purpose,
    val granted: Boolean,
    val givenVersion: Int?,
    val currentVersion: Int,
    val needsReconsent: Boolean,
    val updatedAt: Instant?,
)

/** A usage-event property: a flag, a count (0 to 10,000) or a token (a-z, 0-9, _); nothing free-form. */
sealed interface AnalyticsValue {
    data class Flag(val value: Boolean) : AnalyticsValue
    data class Count(val value: Int) : AnalyticsValue
    data class Token(val value: String) : AnalyticsValue
}

/** How often one event, with one set of properties, happened on one day (`YYYY-MM-DD`; no time, no id). */
data class AnalyticsCount(val day: String, val event: String, val props: Map<String, AnalyticsValue>, val count: Long)

private fun AnalyticsValue.toFfi(): org.praxis.ffi.AnalyticsValue = when (this) {
    is AnalyticsValue.Flag -> org.praxis.ffi.AnalyticsValue.Flag(value)
    // A negative count is refused by the core like one above 10,000.
    is AnalyticsValue.Count -> org.praxis.ffi.AnalyticsValue.Count(if (value < 0) UInt.MAX_VALUE else value.toUInt())
    is AnalyticsValue.Token -> org.praxis.ffi.AnalyticsValue.Token(value)
}

private fun org.praxis.ffi.AnalyticsValue.toPublic(): AnalyticsValue = when (this) {
    is org.praxis.ffi.AnalyticsValue.Flag -> AnalyticsValue.Flag(value)
    is org.praxis.ffi.AnalyticsValue.Count -> AnalyticsValue.Count(value.toInt())
    is org.praxis.ffi.AnalyticsValue.Token -> AnalyticsValue.Token(value)
}

/** Someone to write to about personal data (a DPO's name is a person's: kept out of logs). */
data class NoticeContact(val name: String?, val email: String, val address: String?) {
    override fun toString() = "NoticeContact([redacted])"
}

/**
 * The privacy notice in force: who decides what is done with the data, whom to ask, where to complain.
 * [changed]: a sync brought this newer version; tell the user once, then [Praxis.acknowledgePrivacyNotice].
 */
data class PrivacyNotice(
    val version: Int,
    /** The day this version took effect (`YYYY-MM-DD`). */
    val published: String,
    val url: String,
    val controllerName: String,
    val controllerAddress: String,
    val controllerRegistrationNumber: String,
    val privacyContact: NoticeContact,
    val dpo: NoticeContact,
    val authorityName: String,
    val authorityUrl: String,
    /** The published consent version per purpose: consent to an older one no longer counts. */
    val consentVersions: Map<Purpose, Int>,
    /** A development server's placeholder: never show it to real users. */
    val development: Boolean,
    val changed: Boolean,
) {
    override fun toString() = "PrivacyNotice(version=$version, changed=$changed)"
}

private fun org.praxis.ffi.protocol.NoticeContact.toPublic() = NoticeContact(name, email, address)

private fun org.praxis.ffi.PrivacyNoticeStatus.toPublic() = with(notice) {
    PrivacyNotice(
        version.toInt(), published, url,
        controller.name, controller.address, controller.registrationNumber,
        privacyContact.toPublic(), dpo.toPublic(),
        supervisoryAuthority.name, supervisoryAuthority.url,
        consentVersions.associate { it.purpose.toPublic() to it.version.toInt() },
        development, changed,
    )
}

/** A position from the platform's location provider. */
data class Fix(val lat: Double, val lon: Double, val accuracyM: Double, val time: Instant, val source: FixSource = FixSource.FUSED) {
    override fun toString() = "Fix(time=$time, source=$source)"
}

enum class FixSource { GPS, NETWORK, FUSED }

enum class VisitKind { CHECK_IN, CHECK_OUT }

data class VisitEvent(
    val id: String,
    val appointmentId: String,
    val kind: VisitKind,
    val at: Instant,
    val position: GeoPoint?,
    val precision: Precision,
    val inside: Boolean?,
    val distanceM: Double?,
)

data class LiveShare(val shareId: String, val recipients: List<String>, val startedAt: Instant, val expiresAt: Instant)

data class SharedLocation(val shareId: String, val userId: String, val fullName: String, val expiresAt: Instant, val position: GeoPoint?) {
    override fun toString() = "SharedLocation(shareId=$shareId)"
}

data class LocationPolicy(
    val locationVisits: Boolean,
    val locationSharing: Boolean,
    val maxPrecision: Precision,
    val retentionDays: Int,
    val updatedAt: Instant,
    val updatedBy: String?,
    /** Days visit records must be kept by law or contract (0: none). */
    val visitRecordsDays: Int = 0,
)

/** What happens to the user's data after their death. */
enum class PostMortemAction { ERASE, HAND_OVER }

/** The post-mortem directive in force ([updatedAt] null: the default, erasure). */
data class PostMortemDirective(
    val action: PostMortemAction,
    val recipientName: String?,
    val recipientEmail: String?,
    val message: String?,
    val updatedAt: Instant?,
) {
    // A person's name and address, a message: kept out of logs.
    override fun toString() = "PostMortemDirective(action=$action)"
}

private fun org.praxis.ffi.PostMortemDirective.toPublic() =
    PostMortemDirective(PostMortemAction.valueOf(action.name), recipientName, recipientEmail, message, updatedAt)

/** A processing on legitimate interest (GDPR Art. 21): what an objection [stops], or why it [continues]. */
data class Objection(
    val basis: String,
    val processing: String,
    val objected: Boolean,
    val since: Instant?,
    val stops: List<String>,
    val continues: String?,
)

private fun org.praxis.ffi.protocol.Objection.toPublic() = Objection(basis, processing, objected, since, stops, continues)

/** What an erasure of location data removed; [visitEventsHeld] records the organisation must keep are held, restricted, until [heldUntil]. */
data class LocationErasure(
    val rawFixesErased: Long,
    val visitEventsDeleted: Long,
    val visitEventsHeld: Long,
    val heldUntil: Instant?,
    val sharesEnded: Long,
)

data class Appointment(
    val id: String,
    val title: String,
    val patientLabel: String?,
    val start: Instant,
    val durationMin: Int,
    val status: AppointmentStatus,
    val address: String?,
    val point: GeoPoint?,
) {
    override fun toString() = "Appointment(id=$id, start=$start, status=$status)"
}

private fun Purpose.toFfi() = org.praxis.ffi.protocol.Purpose.valueOf(name)
private fun org.praxis.ffi.protocol.Purpose.toPublic() = Purpose.valueOf(name)
private fun Precision.toFfi() = org.praxis.ffi.protocol.Precision.valueOf(name)
private fun org.praxis.ffi.protocol.Precision.toPublic() = Precision.valueOf(name)
private fun org.praxis.ffi.GeoPoint.toPublic() = GeoPoint(lat, lon)
private fun Fix.toFfi() = org.praxis.ffi.Fix(lat, lon, accuracyM, time, org.praxis.ffi.FixSource.valueOf(source.name))

private fun org.praxis.ffi.LocationPermission.toPublic() = LocationPermission(
    purpose.toPublic(), closed?.let { GateClosed.valueOf(it.name) }, precision.toPublic(), organisationAllows,
    consented, restricted, maxPrecision.toPublic(), retentionDays.toInt(),
)

private fun org.praxis.ffi.VisitEvent.toPublic() = VisitEvent(
    id, appointmentId, VisitKind.valueOf(kind.name), at, position?.toPublic(), precision.toPublic(), inside, distanceM,
)

private fun org.praxis.ffi.protocol.LiveShare.toPublic() = LiveShare(shareId, recipients, startedAt, expiresAt)

/** A professional contact card; the owner chooses, per connection, which fields are shared. */
data class ContactCard(
    val displayName: String,
    val profession: String? = null,
    val specialty: String? = null,
    val workPhone: String? = null,
    val workEmail: String? = null,
    val organisation: String? = null,
    val clinicAddress: String? = null,
    val languages: List<String> = emptyList(),
) {
    override fun toString() = "ContactCard([redacted])"
}

/** A card someone shared with me: only the fields they chose are set. */
data class Contact(
    val ownerId: String,
    val card: ContactCard,
    val sharedFields: List<String>,
    val allowForward: Boolean,
    val forwardedBy: String?,
)

/** A single-use invitation: show [code] as a QR code or send it as a link. */
data class ContactInvitation(val invitationId: String, val code: String, val expiresAt: Instant) {
    override fun toString() = "ContactInvitation(invitationId=$invitationId, expiresAt=$expiresAt)"
}

private fun org.praxis.ffi.protocol.ContactCard.toPublic() =
    ContactCard(displayName, profession, specialty, workPhone, workEmail, organisation, clinicAddress, languages)

private fun ContactCard.toFfi() =
    org.praxis.ffi.protocol.ContactCard(displayName, profession, specialty, workPhone, workEmail, organisation, clinicAddress, languages)

private fun org.praxis.ffi.protocol.LocationPolicy.toPublic() =
    LocationPolicy(locationVisits, locationSharing, maxPrecision.toPublic(), retentionDays.toInt(), updatedAt, updatedBy, visitRecordsDays.toInt())


enum class SyncState { IDLE, SYNCING, OFFLINE, ERROR }

/**
 * Sync state and counters: [pending] local changes not yet sent, and
 * [received] server changes applied so far in the running sync (in the
 * last one when idle), the progress of a large first sync.
 */
data class SyncStatus(
    val state: SyncState,
    val pending: Long,
    val lastSuccess: Instant?,
    val retryAt: Instant?,
    val received: Long,
)

private fun FfiSyncStatus.toPublic() =
    SyncStatus(SyncState.valueOf(state.name), pending.toLong(), lastSuccess, retryAt, received.toLong())

private fun org.praxis.ffi.Appointment.toPublic() = Appointment(
    id, title, patientLabel, start, durationMin.toInt(), AppointmentStatus.valueOf(status.name), address,
    point?.let { GeoPoint(it.lat, it.lon) },
)

private fun org.praxis.ffi.protocol.Profile.toPublic() =
    Profile(userId, email, fullName, phone, country, language, profession, dateOfBirth, emailVerified)

enum class DevicePlatform { ANDROID, IOS, CLI, OTHER }

/** One signed-in device of the user; [current] is this one. */
data class DeviceSession(
    val id: String,
    val deviceName: String?,
    val platform: DevicePlatform?,
    val createdAt: Instant,
    val lastUsedAt: Instant,
    val current: Boolean,
) {
    override fun toString() = "DeviceSession(id=$id, platform=$platform, current=$current)"
}

/**
 * The user's signed-in devices. Ending one with `wipe = true` makes it delete
 * the user's data at its next contact (a lost or stolen phone); a wipe needs
 * [Praxis.reauthenticate] within the five minutes before.
 */
class Devices internal constructor(private val inner: org.praxis.ffi.Devices) {
    suspend fun sessions(): List<DeviceSession> = mapped {
        inner.sessions().map {
            DeviceSession(it.id, it.deviceName, it.platform?.let { p -> DevicePlatform.valueOf(p.name) },
                it.createdAt, it.lastUsedAt, it.current)
        }
    }

    /** Signs one device out; ending this device's own session is a logout. */
    suspend fun endSession(id: String, wipe: Boolean = false) = mapped { inner.endSession(id, wipe) }

    suspend fun endOtherSessions(wipe: Boolean = false) = mapped { inner.endOtherSessions(wipe) }
}

enum class Role { ADMIN, MEMBER }

/** A member of an organisation. */
data class Member(val userId: String, val fullName: String, val profession: String, val role: Role) {
    override fun toString() = "Member(userId=$userId, role=$role)"
}

/** An open join code, by id (the code itself is shown once, at creation). */
data class JoinCodeInfo(val id: String, val createdBy: String, val createdAt: Instant, val expiresAt: Instant)

/** One entry of an organisation's audit log (ids and flags only). */
data class OrgAuditEvent(val at: Instant, val event: String, val detailsJson: String)

/** One change of an organisation's location policy. */
data class PolicyChange(val at: Instant, val actorId: String, val memberId: String?, val changeJson: String)

/**
 * Running an organisation: roles, removal, leaving, renaming, join codes, the
 * audit log and the location policy's change log. A member gets
 * [PraxisError.Forbidden]; the last admin cannot step down or leave while
 * others remain ([PraxisError.Conflict] `last_admin`).
 */
class OrgAdmin internal constructor(private val inner: org.praxis.ffi.OrgAdmin) {
    suspend fun setMemberRole(orgId: String, userId: String, role: Role) =
        mapped { inner.setMemberRole(orgId, userId, org.praxis.ffi.protocol.Role.valueOf(role.name)) }

    suspend fun removeMember(orgId: String, userId: String) = mapped { inner.removeMember(orgId, userId) }

    suspend fun leave(orgId: String) = mapped { inner.leave(orgId) }

    /** Renames the organisation; its new name. */
    suspend fun rename(orgId: String, name: String): String = mapped { inner.rename(orgId, name).name }

    suspend fun joinCodes(orgId: String): List<JoinCodeInfo> = mapped {
        inner.joinCodes(orgId).map { JoinCodeInfo(it.id, it.createdBy, it.createdAt, it.expiresAt) }
    }

    suspend fun revokeJoinCode(orgId: String, codeId: String) = mapped { inner.revokeJoinCode(orgId, codeId) }

    suspend fun auditLog(orgId: String): List<OrgAuditEvent> = mapped {
        inner.auditLog(orgId).map { OrgAuditEvent(it.at, it.event, it.detailsJson) }
    }

    suspend fun policyChanges(orgId: String): List<PolicyChange> = mapped {
        inner.policyChanges(orgId).map { PolicyChange(it.at, it.actorId, it.memberId, it.changeJson) }
    }
}

/** The Praxis core on this device. Close it when the app no longer needs it. */
class Praxis private constructor(private val inner: PraxisClient) : AutoCloseable {
    // The core's capabilities, one object each (fetched once).
    private val accountApi = inner.account()
    private val appointmentsApi = inner.appointments()
    private val syncApi = inner.sync()
    private val consentsApi = inner.consents()
    private val locationApi = inner.location()
    private val contactsApi = inner.contacts()
    private val rightsApi = inner.rights()
    private val analyticsApi = inner.analytics()
    private val noticesApi = inner.notices()

    companion object {
        /**
         * Opens the core: unlocks the encrypted cache in [dataDir] and restores any session.
         * [spkiPins] are SHA-256 hashes of the server keys to accept (empty: no pinning);
         * [extraRootCertificates] are CA certificates (DER) trusted besides the public roots,
         * e.g. the organisation's private CA.
         *
         * A backup restored onto a new phone brings [dataDir] but not the Keystore key, so the
         * key no longer opens the cache: [PraxisError.KeyMismatch]. With [resetOnKeyMismatch]
         * the core then deletes the cache, has [keyProvider] forget its key and opens empty
         * (signed out: the user signs in again and the server's copy syncs back; edits never
         * synced are lost, which is why it is the app's choice).
         */
        suspend fun open(
            serverUrl: String,
            dataDir: File,
            keyProvider: KeyProvider,
            logger: Logger? = null,
            requestTimeout: Duration = 30.seconds,
            deviceName: String? = null,
            spkiPins: List<ByteArray> = emptyList(),
            extraRootCertificates: List<ByteArray> = emptyList(),
            resetOnKeyMismatch: Boolean = false,
        ): Praxis = mapped {
            val config = ClientConfig(
                serverUrl, dataDir.absolutePath, requestTimeout.inWholeMilliseconds.toULong(), spkiPins,
                deviceName, org.praxis.ffi.protocol.Platform.ANDROID, extraRootCertificates, resetOnKeyMismatch,
            )
            Praxis(PraxisClient.open(config, KeyProviderAdapter(keyProvider), logger?.let(::LoggerAdapter)))
        }

        /** The core's version. */
        fun version(): String = org.praxis.ffi.coreVersion()
    }

    /** Whether someone is signed in. */
    val isSignedIn: Boolean get() = inner.isSignedIn()

    /**
     * How far the server's clock is ahead of this device's (negative when the
     * device is ahead), when the last answer showed the device clock more than
     * two minutes off; null otherwise. The core already runs on the server's
     * time: show the user that the phone's clock is wrong.
     */
    val clockSkew: Duration? get() = inner.clockSkewSeconds()?.seconds

    /** The current session state. */
    val session: SessionState get() = inner.sessionState().toPublic()

    /** The session state, now and at every change. */
    val sessionStates: Flow<SessionState> = callbackFlow {
        val handle = inner.subscribeSession(object : SessionListener {
            override fun onUpdate(state: FfiSessionState) {
                trySend(state.toPublic())
            }
        })
        awaitClose {
            handle.cancel()
            handle.close()
        }
    }.conflate()

    suspend fun register(
        email: String,
        password: String,
        fullName: String,
        phone: String,
        country: String,
        language: String,
        profession: String,
        dateOfBirth: String,
    ): String = mapped {
        inner.register(Registration(email, password, fullName, phone, country, language, profession, dateOfBirth))
    }

    suspend fun login(email: String, password: String): String = mapped { inner.login(email, password) }

    suspend fun logout() = mapped { inner.logout() }

    /**
     * Changes the password ([current] may be null within five minutes of
     * [reauthenticate]). The user's other devices are signed out; this one stays.
     */
    suspend fun changePassword(current: String?, newPassword: String) =
        mapped { accountApi.changePassword(current, newPassword) }

    /** Mails a password reset code to [email] (no sign-in needed; the same answer for any address). */
    suspend fun requestPasswordReset(email: String) = mapped { accountApi.requestPasswordReset(email) }

    /** Sets a new password with the mailed [code]; every session ends, this one too. */
    suspend fun resetPassword(email: String, code: String, newPassword: String) =
        mapped { accountApi.resetPassword(email, code, newPassword) }

    /** Proves the email address with the mailed [code]. */
    suspend fun verifyEmail(code: String) = mapped { accountApi.verifyEmail(code) }

    /** Mails a new verification code; false when the address is already verified. */
    suspend fun resendVerification(): Boolean = mapped { accountApi.resendVerification() }

    /** The members of an organisation the user belongs to. */
    suspend fun members(orgId: String): List<Member> = mapped {
        accountApi.members(orgId).map { Member(it.userId, it.fullName, it.profession, Role.valueOf(it.role.name)) }
    }

    /** Organisation administration. */
    val orgAdmin: OrgAdmin get() = OrgAdmin(inner.orgAdmin())

    /** The user's signed-in devices, and remote sign-out and wipe. */
    val devices: Devices get() = Devices(inner.devices())

    suspend fun profile(): Profile = mapped { accountApi.profile().toPublic() }

    suspend fun cachedProfile(): Profile? = mapped { accountApi.cachedProfile()?.toPublic() }

    /** Confirms the password; changing the login email needs it in the five minutes before. */
    suspend fun reauthenticate(password: String) = mapped { inner.reauthenticate(password) }

    /** Rectifies profile fields; a new email needs [reauthenticate] first and signs the other devices out. */
    suspend fun updateProfile(
        email: String? = null,
        fullName: String? = null,
        phone: String? = null,
        country: String? = null,
        language: String? = null,
        profession: String? = null,
        dateOfBirth: String? = null,
    ): Profile = mapped {
        accountApi.updateProfile(ProfileUpdate(email, fullName, phone, country, language, profession, dateOfBirth)).toPublic()
    }

    suspend fun createOrg(name: String): String = mapped { accountApi.createOrg(name) }

    /** Adds a visit: stored and queued at once, synced later (offline-first). */
    suspend fun createAppointment(
        title: String,
        start: Instant,
        durationMin: Int,
        patientLabel: String? = null,
        address: String? = null,
        point: GeoPoint? = null,
    ): String = mapped {
        appointmentsApi.createAppointment(
            FfiNewAppointment(title, patientLabel, start, durationMin.count("duration_min"), address, point?.let { org.praxis.ffi.GeoPoint(it.lat, it.lon) }, null),
        )
    }

    suspend fun updateAppointment(
        id: String,
        title: String? = null,
        status: AppointmentStatus? = null,
        address: String? = null,
        start: Instant? = null,
        durationMin: Int? = null,
    ) = mapped {
        appointmentsApi.updateAppointment(
            id,
            FfiPatch(title, null, start, durationMin?.count("duration_min"), status?.let { org.praxis.ffi.AppointmentStatus.valueOf(it.name) }, address, null),
        )
    }

    suspend fun deleteAppointment(id: String) = mapped { appointmentsApi.deleteAppointment(id) }

    suspend fun appointments(): List<Appointment> = mapped { appointmentsApi.list().map { it.toPublic() } }

    /** Syncs now; WorkManager jobs and pull-to-refresh call this. */
    suspend fun syncNow(reason: String = "app"): SyncStatus = mapped { syncApi.syncNow(reason).toPublic() }

    /** Syncs in the background while the returned handle is open (close it to stop). */
    fun startAutoSync(): AutoCloseable {
        val handle = syncApi.startAutoSync()
        return AutoCloseable {
            handle.cancel()
            handle.close()
        }
    }

    /**
     * Keeps this device current while the returned handle is open (start it
     * in onStart, close it in onStop): auto sync plus the server's change
     * feed, so other devices' edits, admin policy changes and revoked
     * contact cards arrive within a second and show in [syncStatuses].
     */
    fun startLiveSync(): AutoCloseable {
        val handle = syncApi.startLiveSync()
        return AutoCloseable {
            handle.cancel()
            handle.close()
        }
    }

    /**
     * Registers this sign-in's push token (from FirebaseMessagingService.onNewToken):
     * the server then wakes the app when its data changes. Sign-out removes it.
     */
    suspend fun registerPushToken(platform: PushPlatform, token: String) =
        mapped { syncApi.registerPushToken(org.praxis.ffi.protocol.PushPlatform.valueOf(platform.name), token) }

    /** Stops background wake-ups for this sign-in. */
    suspend fun removePushToken() = mapped { syncApi.removePushToken() }

    /**
     * A wake-up arrived (FirebaseMessagingService.onMessageReceived, data
     * message of type praxis.sync): one sync, within 25 seconds.
     */
    suspend fun handleWakeUp(): SyncStatus = mapped { syncApi.handleWakeUp().toPublic() }

    /**
     * The appointments, now and whenever they change: a local edit, or a
     * sync that brought other devices' changes (with [startLiveSync], as
     * they are made). A screen collects this instead of polling.
     */
    val appointmentLists: Flow<List<Appointment>>
        get() = syncStatuses.map { appointments() }.distinctUntilChanged()

    /** The sync status, now and at every change. */
    val syncStatuses: Flow<SyncStatus> = callbackFlow {
        val handle = syncApi.subscribeSync(object : SyncListener {
            override fun onUpdate(status: FfiSyncStatus) {
                trySend(status.toPublic())
            }
        })
        awaitClose {
            handle.cancel()
            handle.close()
        }
    }.conflate()

    suspend fun joinOrg(code: String): String = mapped { accountApi.joinOrg(code) }

    suspend fun createJoinCode(orgId: String): String = mapped { accountApi.createJoinCode(orgId).code }

    // --- consent -------------------------------------------------------------

    suspend fun grantConsent(purpose: Purpose) = mapped { consentsApi.grantConsent(purpose.toFfi()) }

    /** Withdraws consent: processing for the purpose stops at once, on this device first. */
    suspend fun withdrawConsent(purpose: Purpose) = mapped { consentsApi.withdrawConsent(purpose.toFfi()) }

    suspend fun consentStatus(): List<ConsentStatus> = mapped {
        consentsApi.consentStatus().map {
            ConsentStatus(it.purpose.toPublic(), it.granted, it.givenVersion?.toInt(), it.currentVersion.toInt(), it.needsReconsent, it.updatedAt)
        }
    }

    /** Purposes consented to under an older policy version: ask the user again. */
    suspend fun purposesNeedingReconsent(): List<Purpose> = mapped { consentsApi.purposesNeedingReconsent().map { it.toPublic() } }

    // --- location ------------------------------------------------------------

    /**
     * Both location permissions (visits, sharing), now and at every change: the
     * organisation's policy (after a sync), the user's consent, restriction, precision.
     */
    val locationPermissions: Flow<List<LocationPermission>> = callbackFlow {
        val handle = locationApi.subscribeLocation(object : org.praxis.ffi.LocationListener {
            override fun onUpdate(permissions: List<org.praxis.ffi.LocationPermission>) {
                trySend(permissions.map { it.toPublic() })
            }
        })
        awaitClose {
            handle.cancel()
            handle.close()
        }
    }.conflate()

    suspend fun locationPermission(purpose: Purpose): LocationPermission =
        mapped { locationApi.locationPermission(purpose.toFfi()).toPublic() }

    suspend fun setLocationPrecision(precision: Precision) = mapped { locationApi.setLocationPrecision(precision.toFfi()) }

    /**
     * Records a check-in. Throws [PraxisError.PolicyDisabled], [PraxisError.ConsentRequired] or
     * [PraxisError.Restricted] when a gate is closed; nothing is stored then.
     */
    suspend fun checkIn(appointmentId: String, fix: Fix): VisitEvent = mapped { locationApi.checkIn(appointmentId, fix.toFfi()).toPublic() }

    suspend fun checkOut(appointmentId: String, fix: Fix): VisitEvent = mapped { locationApi.checkOut(appointmentId, fix.toFfi()).toPublic() }

    suspend fun visitEvents(appointmentId: String): List<VisitEvent> = mapped { locationApi.visitEvents(appointmentId).map { it.toPublic() } }

    suspend fun startLocationShare(recipients: List<String>, durationMin: Int): LiveShare =
        mapped { locationApi.startLocationShare(recipients, durationMin.count("duration_min")).toPublic() }

    /** Sends a fix to the live shares still running; returns how many received it. */
    suspend fun shareLocation(fix: Fix): Int = mapped { locationApi.shareLocation(fix.toFfi()).toInt() }

    suspend fun stopLocationShare(shareId: String) = mapped { locationApi.stopLocationShare(shareId) }

    suspend fun sharedWithMe(): List<SharedLocation> = mapped {
        locationApi.sharedWithMe().map { SharedLocation(it.shareId, it.userId, it.fullName, it.expiresAt, it.position?.toPublic()) }
    }

    // --- organisation location policy (admins) --------------------------------

    suspend fun locationPolicy(orgId: String): LocationPolicy = mapped { locationApi.locationPolicy(orgId).toPublic() }

    suspend fun updateLocationPolicy(
        orgId: String,
        locationVisits: Boolean? = null,
        locationSharing: Boolean? = null,
        maxPrecision: Precision? = null,
        retentionDays: Int? = null,
        visitRecordsDays: Int? = null,
    ): LocationPolicy = mapped {
        locationApi.updateLocationPolicy(
            orgId,
            org.praxis.ffi.protocol.LocationPolicyUpdate(
                locationVisits, locationSharing, maxPrecision?.toFfi(), retentionDays?.count("retention_days"), visitRecordsDays?.count("visit_records_days"),
            ),
        ).toPublic()
    }

    suspend fun setMemberLocation(orgId: String, userId: String, enabled: Boolean) =
        mapped { locationApi.setMemberLocation(orgId, userId, enabled) }

    suspend fun setRestricted(restricted: Boolean) = mapped { rightsApi.setRestricted(restricted) }

    // --- contacts --------------------------------------------------------------

    suspend fun myCard(): ContactCard = mapped { contactsApi.myCard().toPublic() }

    suspend fun updateCard(card: ContactCard): ContactCard = mapped { contactsApi.updateCard(card.toFfi()).toPublic() }

    suspend fun createInvitation(fields: List<String>, allowForward: Boolean = false, ttlHours: Int? = null): ContactInvitation =
        mapped {
            val i = contactsApi.createInvitation(fields, allowForward, ttlHours?.count("ttl_hours"))
            ContactInvitation(i.invitationId, i.code, i.expiresAt)
        }

    /** Accepts an invitation (the code is checked on the device first); returns the inviter's id. */
    suspend fun acceptInvitation(code: String, fields: List<String>, allowForward: Boolean = false): String =
        mapped { contactsApi.acceptInvitation(code, fields, allowForward) }

    suspend fun declineInvitation(code: String) = mapped { contactsApi.declineInvitation(code) }

    /** The cards shared with me, from the encrypted cache (works offline). */
    suspend fun contacts(): List<Contact> = mapped {
        contactsApi.list().map { Contact(it.ownerId, it.card.toPublic(), it.sharedFields, it.allowForward, it.forwardedBy) }
    }

    /** Ends a connection both ways; each card leaves the other's devices at their next sync. */
    suspend fun revokeContact(userId: String) = mapped { contactsApi.revokeContact(userId) }

    suspend fun forwardContact(ownerId: String, to: String) = mapped { contactsApi.forwardContact(ownerId, to) }

    suspend fun blockUser(userId: String) = mapped { contactsApi.blockUser(userId) }

    // --- analytics ----------------------------------------------------------------

    /**
     * Counts one usage event; `false` when dropped because the user does not consent to analytics.
     * An event carrying a part of the user's name, email or phone is refused ([PraxisError.InvalidInput]).
     */
    suspend fun recordAnalyticsEvent(event: String, props: Map<String, AnalyticsValue> = emptyMap()): Boolean =
        mapped { analyticsApi.recordAnalyticsEvent(event, props.mapValues { it.value.toFfi() }) }

    /** Takes the counts recorded so far (deleted from the device) to ship to the analytics endpoint. */
    suspend fun drainAnalytics(): List<AnalyticsCount> = mapped {
        analyticsApi.drainAnalytics().map { c -> AnalyticsCount(c.day, c.event, c.props.mapValues { it.value.toPublic() }, c.count.toLong()) }
    }

    // --- rights -----------------------------------------------------------------

    /** Fetches the privacy notice in force (no sign-in needed: show it before registering); offline, the copy held. */
    suspend fun fetchPrivacyNotice(): PrivacyNotice = mapped { noticesApi.fetchPrivacyNotice().toPublic() }

    /** The privacy notice held on this device, without the network; `changed` says a sync brought a newer one. */
    suspend fun privacyNotice(): PrivacyNotice? = mapped { noticesApi.privacyNotice()?.toPublic() }

    /** The user was shown notice [version]: its `changed` flag goes down (not if a newer one arrived meanwhile). */
    suspend fun acknowledgePrivacyNotice(version: Int): Boolean =
        mapped { noticesApi.acknowledgePrivacyNotice(version.toUInt()) }

    /** Downloads everything the server holds about the user into [file] (encrypted when [passphrase] is given). */
    suspend fun exportData(file: File, passphrase: String? = null): Long =
        mapped { rightsApi.exportData(file.absolutePath, passphrase).toLong() }

    /** What happens to the user's data after their death (the default: erasure). */
    suspend fun postMortem(): PostMortemDirective = mapped { rightsApi.postMortem().toPublic() }

    /** Records the post-mortem directive: [PostMortemAction.ERASE], or hand the export to a person, then erase. */
    suspend fun setPostMortem(
        action: PostMortemAction,
        recipientName: String? = null,
        recipientEmail: String? = null,
        message: String? = null,
    ): PostMortemDirective = mapped {
        rightsApi.setPostMortem(org.praxis.ffi.PostMortemAction.valueOf(action.name), recipientName, recipientEmail, message)
            .toPublic()
    }

    /** Removes the post-mortem directive: erasure applies again. */
    suspend fun removePostMortem() = mapped { rightsApi.removePostMortem() }

    /** The processing on legitimate interest, and whether the user objects to each. */
    suspend fun objections(): List<Objection> = mapped { rightsApi.objections().map { it.toPublic() } }

    /** Objects to [basis] (or withdraws the objection); the answer says what stops and what continues, and why. */
    suspend fun setObjection(basis: String, objected: Boolean = true): Objection =
        mapped { rightsApi.setObjection(basis, objected).toPublic() }

    /**
     * Erases the location data collected under [purpose] (null: both location purposes), typically after withdrawing
     * its consent: on the server, on this device at once, on the user's other devices at their next sync.
     */
    suspend fun eraseLocationData(purpose: Purpose? = null): LocationErasure = mapped {
        rightsApi.eraseLocationData(purpose?.toFfi()).let {
            LocationErasure(
                it.rawFixesErased.toLong(), it.visitEventsDeleted.toLong(), it.visitEventsHeld.toLong(),
                it.heldUntil, it.sharesEnded.toLong(),
            )
        }
    }

    /** Erases the account after confirming the password; this device is wiped, the others at their next contact. */
    suspend fun deleteAccount(password: String) = mapped { rightsApi.deleteAccount(password) }

    /** The security events recorded about the user, newest first: (time, event). */
    suspend fun auditLog(): List<Pair<Instant, String>> = mapped { rightsApi.auditLog().map { it.at to it.event } }

    override fun close() {
        listOf<AutoCloseable>(accountApi, appointmentsApi, syncApi, consentsApi, locationApi, contactsApi, rightsApi, analyticsApi, noticesApi).forEach { it.close() }
        inner.close()
    }
}

private class KeyProviderAdapter(private val provider: KeyProvider) : org.praxis.ffi.KeyProvider {
    override fun keyEncryptionKey(): ByteArray = reasoned { provider.key() }

    override fun forget() = reasoned { provider.forget() }

    /**
     * A failure of the app's provider reaches the app as [PraxisError.KeyUnavailable] with the
     * provider's own reason when it gave one (a [PraxisError.KeyUnavailable]), else the
     * exception's class name (never its message, which may name data).
     */
    private inline fun <T> reasoned(block: () -> T): T =
        try {
            block()
        } catch (e: Exception) {
            throw PraxisException.KeyProvider(if (e is PraxisError.KeyUnavailable) e.reason else e.javaClass.simpleName)
        }
}

/** A count the core takes unsigned (minutes, hours, days): a negative one is refused here. */
private fun Int.count(field: String): UInt =
    if (this < 0) throw PraxisError.InvalidInput(field, "out_of_range", null) else toUInt()

private class LoggerAdapter(private val logger: Logger) : org.praxis.ffi.Logger {
    override fun log(level: org.praxis.ffi.LogLevel, target: String, message: String) =
        logger.log(LogLevel.valueOf(level.name), target, message)
}
