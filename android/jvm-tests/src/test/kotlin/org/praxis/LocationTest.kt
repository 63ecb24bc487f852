package org.praxis

import java.time.Instant
import java.time.temporal.ChronoUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LocationTest {
    private lateinit var server: TestServer

    @BeforeAll
    fun start() {
        server = TestServer()
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    private suspend fun signedIn(tag: String, key: Byte): Pair<Praxis, String> {
        val person = newPerson(tag)
        val p = Praxis.open(server.url, tempDir(), MemoryKeyProvider(ByteArray(32) { key }))
        p.registerPerson(person)
        return p to p.login(person.email, person.password)
    }

    private fun visits(perms: List<LocationPermission>) = perms.first { it.purpose == Purpose.LOCATION_VISITS }

    @Test
    fun `the permission flow follows the organisation and the user's consent`(): Unit = runBlocking {
        val (admin, _) = signedIn("admin", 11)
        val (nurse, _) = signedIn("nurse", 12)
        val org = admin.createOrg("Soins Nord")
        nurse.joinOrg(admin.createJoinCode(org))
        nurse.syncNow("test")

        withTimeout(10.seconds) {
            nurse.locationPermissions.first { visits(it).closed == GateClosed.POLICY_DISABLED }
        }
        // A member cannot change the policy.
        assertFailsWith<PraxisError.Forbidden> { nurse.updateLocationPolicy(org, locationVisits = true) }
        val policy = admin.updateLocationPolicy(org, locationVisits = true)
        assertTrue(policy.locationVisits)
        assertEquals(Precision.APPROXIMATE, policy.maxPrecision)
        nurse.syncNow("test")
        withTimeout(10.seconds) {
            nurse.locationPermissions.first { visits(it).closed == GateClosed.CONSENT_REQUIRED }
        }

        val start = Instant.now().plus(1, ChronoUnit.HOURS)
        val visit = nurse.createAppointment("Insulin", start, 15, point = GeoPoint(50.6365, 3.0635))
        val fix = Fix(50.6366, 3.0636, 8.0, Instant.now())
        val refused = assertFailsWith<PraxisError.ConsentRequired> { nurse.checkIn(visit, fix) }
        assertEquals("location_visits", refused.purpose)
        assertTrue(nurse.visitEvents(visit).isEmpty(), "nothing stored")

        nurse.grantConsent(Purpose.LOCATION_VISITS)
        val allowed = withTimeout(10.seconds) { nurse.locationPermissions.first { visits(it).allowed } }
        assertEquals(Precision.APPROXIMATE, visits(allowed).precision)
        val event = nurse.checkIn(visit, fix)
        assertEquals(VisitKind.CHECK_IN, event.kind)
        assertEquals(true, event.inside)
        assertEquals(Precision.APPROXIMATE, event.precision)
        assertTrue(nurse.consentStatus().first { it.purpose == Purpose.LOCATION_VISITS }.granted)
        assertEquals(SyncState.IDLE, nurse.syncNow("test").state)

        nurse.withdrawConsent(Purpose.LOCATION_VISITS)
        withTimeout(10.seconds) {
            nurse.locationPermissions.first { visits(it).closed == GateClosed.CONSENT_REQUIRED }
        }
        assertFailsWith<PraxisError.ConsentRequired> { nurse.checkOut(visit, fix) }
        assertEquals(SyncState.IDLE, nurse.syncNow("test").state)

        // Erasure by purpose: the check-in goes from the server and this device; with no retention stated by
        // the organisation, nothing is held. A purpose that is not a location one is refused.
        assertFailsWith<PraxisError.InvalidInput> { nurse.eraseLocationData(Purpose.MARKETING) }
        val erased = nurse.eraseLocationData(Purpose.LOCATION_VISITS)
        assertEquals(1L, erased.rawFixesErased)
        assertEquals(1L, erased.visitEventsDeleted)
        assertEquals(0L, erased.visitEventsHeld)
        assertNull(erased.heldUntil)
        assertTrue(nurse.visitEvents(visit).isEmpty(), "gone from this device")
        assertEquals(0, admin.locationPolicy(org).visitRecordsDays)
        assertEquals(30, admin.updateLocationPolicy(org, visitRecordsDays = 30).visitRecordsDays)
        admin.close()
        nurse.close()
    }

    @Test
    fun `a live share reaches the recipient and ends when stopped`(): Unit = runBlocking {
        val (admin, adminId) = signedIn("admin2", 13)
        val (nurse, _) = signedIn("nurse2", 14)
        val org = admin.createOrg("Soins Sud")
        nurse.joinOrg(admin.createJoinCode(org))
        admin.updateLocationPolicy(org, locationSharing = true, maxPrecision = Precision.PRECISE)
        nurse.syncNow("test")
        assertFailsWith<PraxisError.ConsentRequired> { nurse.startLocationShare(listOf(adminId), 30) }
        nurse.grantConsent(Purpose.LOCATION_SHARING)
        nurse.syncNow("test")
        val bad = assertFailsWith<PraxisError.InvalidInput> { nurse.startLocationShare(listOf(adminId), 600) }
        assertEquals("duration_min", bad.field)
        val share = nurse.startLocationShare(listOf(adminId), 30)
        assertEquals(1, nurse.shareLocation(Fix(43.6047, 1.4442, 12.0, Instant.now())))
        val seen = admin.sharedWithMe()
        assertEquals(1, seen.size)
        val pos = seen.single().position
        assertTrue(pos != null, "a position arrived")
        nurse.stopLocationShare(share.shareId)
        assertTrue(admin.sharedWithMe().isEmpty())
        assertNull(admin.sharedWithMe().firstOrNull()?.position)
        admin.close()
        nurse.close()
    }
}
