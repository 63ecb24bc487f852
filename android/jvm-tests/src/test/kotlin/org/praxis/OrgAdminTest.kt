package org.praxis

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/** An admin runs the practice from the app; a member is refused the same. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OrgAdminTest {
    private lateinit var server: TestServer

    @BeforeAll
    fun start() {
        server = TestServer()
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    private suspend fun signedIn(tag: String): Pair<Praxis, String> {
        val p = Praxis.open(server.url, tempDir(), MemoryKeyProvider())
        val person = newPerson(tag)
        p.registerPerson(person)
        return p to p.login(person.email, person.password)
    }

    @Test
    fun `promote, demote, remove and read the audit log while a member is forbidden`(): Unit = runBlocking {
        val (admin, adminId) = signedIn("orgadmin")
        val (nurse, nurseId) = signedIn("orgnurse")
        val (other, otherId) = signedIn("orgother")
        admin.use { nurse.use { other.use {
            val org = admin.createOrg("Cabinet Kotlin")
            nurse.joinOrg(admin.createJoinCode(org))
            other.joinOrg(admin.createJoinCode(org))

            // Promote, then demote.
            admin.orgAdmin.setMemberRole(org, nurseId, Role.ADMIN)
            assertEquals(Role.ADMIN, admin.members(org).single { it.userId == nurseId }.role)
            admin.orgAdmin.setMemberRole(org, nurseId, Role.MEMBER)
            assertEquals(Role.MEMBER, admin.members(org).single { it.userId == nurseId }.role)

            // A member tries each admin action: refused, nothing changes.
            assertFailsWith<PraxisError.Forbidden> { nurse.orgAdmin.setMemberRole(org, otherId, Role.ADMIN) }
            assertFailsWith<PraxisError.Forbidden> { nurse.orgAdmin.removeMember(org, otherId) }
            assertFailsWith<PraxisError.Forbidden> { nurse.orgAdmin.auditLog(org) }
            assertFailsWith<PraxisError.Forbidden> { nurse.orgAdmin.joinCodes(org) }
            assertFailsWith<PraxisError.Forbidden> { nurse.orgAdmin.rename(org, "Taken over") }
            assertEquals(3, admin.members(org).size)

            // Join codes, the name, removal, the last-admin guard, leaving.
            admin.createJoinCode(org)
            val codes = admin.orgAdmin.joinCodes(org)
            assertEquals(1, codes.size)
            admin.orgAdmin.revokeJoinCode(org, codes.single().id)
            assertTrue(admin.orgAdmin.joinCodes(org).isEmpty())
            assertEquals("Cabinet Kotlin (Lille)", admin.orgAdmin.rename(org, "Cabinet Kotlin (Lille)"))
            admin.orgAdmin.removeMember(org, otherId)
            assertFailsWith<PraxisError.NotFound> { other.members(org) }
            val lastAdmin = assertFailsWith<PraxisError.Conflict> { admin.orgAdmin.setMemberRole(org, adminId, Role.MEMBER) }
            assertEquals("last_admin", lastAdmin.code)
            nurse.orgAdmin.leave(org)
            assertEquals(listOf(adminId), admin.members(org).map { it.userId })

            // The audit log tells it, with ids only.
            val events = admin.orgAdmin.auditLog(org).map { it.event }
            assertEquals(2, events.count { it == "member_role_changed" })
            assertTrue("member_removed" in events, "$events")
            assertTrue(admin.orgAdmin.auditLog(org).none { "Cabinet" in it.detailsJson || "orgnurse" in it.detailsJson })
            assertTrue(admin.orgAdmin.policyChanges(org).isEmpty())
        } } }
    }
}
