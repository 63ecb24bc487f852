package org.praxis

import java.time.Instant
import java.time.temporal.ChronoUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlin.time.Duration.Companion.seconds
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SyncTest {
    private lateinit var server: TestServer

    @BeforeAll
    fun start() {
        server = TestServer()
    }

    @AfterAll
    fun stop() {
        server.close()
    }

    @Test
    fun `edits on two devices converge`(): Unit = runBlocking {
        val person = newPerson("sync")
        val phone = Praxis.open(server.url, tempDir(), MemoryKeyProvider())
        val tablet = Praxis.open(server.url, tempDir(), MemoryKeyProvider(ByteArray(32) { 3 }))
        phone.registerPerson(person)
        phone.login(person.email, person.password)
        tablet.login(person.email, person.password)

        val start = Instant.now().plus(1, ChronoUnit.DAYS).truncatedTo(ChronoUnit.SECONDS)
        val id = phone.createAppointment("Wound dressing", start, 30, patientLabel = "P-12", address = "3 rue des Lilas")
        assertEquals(1L, phone.syncStatuses.first().pending, "queued offline")
        assertEquals(SyncState.IDLE, phone.syncNow("test").state)
        assertEquals(0L, phone.syncNow("test").pending)
        assertTrue(tablet.syncNow("test").received >= 1, "the visit came in that sync")
        assertEquals(listOf("Wound dressing"), tablet.appointments().map { it.title })
        assertEquals(0L, tablet.syncNow("test").received, "nothing new since")

        // Both edit the same visit, different fields, while "offline".
        phone.updateAppointment(id, title = "Wound dressing (left leg)")
        tablet.updateAppointment(id, status = AppointmentStatus.COMPLETED)
        tablet.createAppointment("Insulin", start.plus(2, ChronoUnit.HOURS), 15)
        for (d in listOf(phone, tablet, phone)) assertEquals(SyncState.IDLE, d.syncNow("test").state)
        val onPhone = phone.appointments()
        assertEquals(onPhone, tablet.appointments())
        val visit = onPhone.first { it.id == id }
        assertEquals("Wound dressing (left leg)", visit.title)
        assertEquals(AppointmentStatus.COMPLETED, visit.status)
        assertEquals(start, visit.start)
        assertEquals(2, onPhone.size)

        tablet.deleteAppointment(id)
        tablet.syncNow("test")
        phone.syncNow("test")
        assertEquals(listOf("Insulin"), phone.appointments().map { it.title })
        val bad = assertFailsWith<PraxisError.InvalidInput> { phone.createAppointment("", start, 30) }
        assertEquals("title", bad.field)
        val negative = assertFailsWith<PraxisError.InvalidInput> { phone.createAppointment("Backwards", start, -5) }
        assertEquals("duration_min", negative.field)
        assertTrue(phone.syncStatuses.first().lastSuccess != null)
        phone.close()
        tablet.close()
    }

    @Test
    fun `auto sync sends a write without being asked`(): Unit = runBlocking {
        val person = newPerson("autosync")
        Praxis.open(server.url, tempDir(), MemoryKeyProvider()).use { phone ->
            phone.registerPerson(person)
            phone.login(person.email, person.password)
            phone.startAutoSync().use {
                phone.createAppointment("Background visit", Instant.now().plus(1, ChronoUnit.DAYS), 20)
                val settled = withTimeout(10.seconds) {
                    phone.syncStatuses.first { it.pending == 0L && it.lastSuccess != null }
                }
                assertEquals(SyncState.IDLE, settled.state)
            }
        }
    }

    @Test
    fun `live sync brings another device's edit without being asked`(): Unit = runBlocking {
        val person = newPerson("livesync")
        val phone = Praxis.open(server.url, tempDir(), MemoryKeyProvider())
        val tablet = Praxis.open(server.url, tempDir(), MemoryKeyProvider(ByteArray(32) { 5 }))
        phone.registerPerson(person)
        phone.login(person.email, person.password)
        tablet.login(person.email, person.password)
        tablet.startLiveSync().use {
            withTimeout(10.seconds) { tablet.syncStatuses.first { it.lastSuccess != null } }
            phone.createAppointment("Seen live", Instant.now().plus(1, ChronoUnit.DAYS), 20)
            phone.syncNow("test")
            // The tablet's list updates by itself: no sync call, no polling.
            val list = withTimeout(10.seconds) {
                tablet.appointmentLists.first { l -> l.any { it.title == "Seen live" } }
            }
            assertEquals(1, list.size)
        }
        phone.close()
        tablet.close()
    }

    @Test
    fun `a wake-up through the push gateway brings the change`(): Unit = runBlocking {
        // A push gateway on loopback that records what it is sent.
        val received = java.util.concurrent.LinkedBlockingQueue<String>()
        val gateway = com.sun.net.httpserver.HttpServer.create(java.net.InetSocketAddress("127.0.0.1", 0), 0)
        gateway.createContext("/_matrix/push/v1/notify") { exchange ->
            received.add(exchange.requestBody.readBytes().decodeToString())
            val answer = "{\"rejected\":[]}".toByteArray()
            exchange.sendResponseHeaders(200, answer.size.toLong())
            exchange.responseBody.use { it.write(answer) }
        }
        gateway.start()
        val woken = TestServer(listOf("--push-gateway-url", "http://127.0.0.1:${gateway.address.port}/_matrix/push/v1/notify"))
        try {
            val person = newPerson("wakeup")
            val phone = Praxis.open(woken.url, tempDir(), MemoryKeyProvider())
            val tablet = Praxis.open(woken.url, tempDir(), MemoryKeyProvider(ByteArray(32) { 6 }))
            phone.registerPerson(person)
            phone.login(person.email, person.password)
            tablet.login(person.email, person.password)
            assertFailsWith<PraxisError.InvalidInput> { tablet.registerPushToken(PushPlatform.FCM, "") }
            tablet.registerPushToken(PushPlatform.FCM, "fcm-token-of-the-tablet")
            phone.createAppointment("Woken up", Instant.now().plus(1, ChronoUnit.DAYS), 20)
            phone.syncNow("test")
            val body = received.poll(15, java.util.concurrent.TimeUnit.SECONDS) ?: error("no wake-up sent")
            assertTrue(body.contains("fcm-token-of-the-tablet"))
            assertTrue(!body.contains(person.email) && !body.contains("Woken up"), "content-free")
            assertEquals(SyncState.IDLE, tablet.handleWakeUp().state)
            assertEquals(listOf("Woken up"), tablet.appointments().map { it.title })
            phone.close()
            tablet.close()
        } finally {
            woken.close()
            gateway.stop(0)
        }
    }
}
