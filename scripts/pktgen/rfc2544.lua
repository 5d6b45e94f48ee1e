-- RFC 2544 throughput for vxrouted: per frame size, a binary search on the
-- offered rate for the highest rate whose loss stays within a threshold
-- (0 = RFC 2544's zero loss), with timed trials and a pause between them.
-- Written for Pktgen-DPDK pktgen-23.03.0 (DPDK 22.11) from its documented
-- commands and Lua API (pktgen.set, pktgen.start/stop, pktgen.portStats,
-- pktgen.range.*, pktgen.set_range, pktgen.pcap, pktgen.delay, pktgen.quit).
-- Not run on this machine: pktgen is not packaged in Debian.
--
-- Modes (VXR_PG_MODE):
--   encap (default): range stream on port 0 (pod side, as encap_range.lua),
--                    counted on port 1 (uplink side)
--   decap:           pcap given with -s 1:FILE on port 1 (uplink side),
--                    counted on port 0 (pod side); the frame size is the pcap's
-- Knobs (environment): VXR_PG_SIZES="64,128,256,512,1024,1280,1468"
--   VXR_PG_TRIAL=20 (s; RFC 2544 asks for 60), VXR_PG_LOSS=0 (percent),
--   VXR_PG_RESOLUTION=0.5 (percent of link rate), VXR_PG_PAUSE=2 (s)
--
-- pktgen <EAL args> -- -P -m "[3].0,[4].1" -f scripts/pktgen/rfc2544.lua </dev/null
package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;"
require "Pktgen"

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then return default end
    return v
end

local mode       = env("VXR_PG_MODE", "encap")
local trial_s    = tonumber(env("VXR_PG_TRIAL", "20"))
local max_loss   = tonumber(env("VXR_PG_LOSS", "0"))          -- percent
local resolution = tonumber(env("VXR_PG_RESOLUTION", "0.5"))  -- percent of link rate
local pause_s    = tonumber(env("VXR_PG_PAUSE", "2"))

local sizes = {}
for s in string.gmatch(env("VXR_PG_SIZES", "64,128,256,512,1024,1280,1468"), "%d+") do
    sizes[#sizes + 1] = tonumber(s)
end

local tx_port, rx_port = "0", "1"
if mode == "decap" then tx_port, rx_port = "1", "0" end

local pod_mac = "02:00:00:00:01:02"   -- pods[0].mac in vxrouted-pktgen.json
local gw_mac  = "02:76:78:00:00:01"   -- vtep_mac (the pods' gateway)
local pod_ip  = "10.244.1.2"          -- pods[0].ip (anti-spoof: the only accepted source)

local function range4(fn, port, start, inc, min, max)
    fn(port, "start", start)
    fn(port, "inc", inc)
    fn(port, "min", min)
    fn(port, "max", max)
end

-- The encap stream: pod 10.244.1.2 to 1,024 remote pod /24s, ports walking.
local function setup_encap(size)
    pktgen.range.dst_mac(tx_port, "start", gw_mac)
    pktgen.range.src_mac(tx_port, "start", pod_mac)
    range4(pktgen.range.src_ip, tx_port, pod_ip, "0.0.0.0", pod_ip, pod_ip)
    range4(pktgen.range.dst_ip, tx_port, "10.0.0.2", "0.0.1.0", "10.0.0.2", "10.3.255.2")
    range4(pktgen.range.src_port, tx_port, 1024, 1, 1024, 65000)
    range4(pktgen.range.dst_port, tx_port, 5001, 7, 5001, 6000)
    range4(pktgen.range.ttl, tx_port, 64, 0, 64, 64)
    range4(pktgen.range.pkt_size, tx_port, size, 0, size, size)
    pktgen.range.ip_proto(tx_port, "udp")   -- range mode sends TCP otherwise
    pktgen.set_range(tx_port, "on")
end

local function counts()
    local tx = pktgen.portStats(tx_port, "port")[tonumber(tx_port)]
    local rx = pktgen.portStats(rx_port, "port")[tonumber(rx_port)]
    return tx.opackets, rx.ipackets
end

-- One timed trial at `rate` percent; returns loss (percent), sent, received.
local function trial(rate)
    pktgen.set(tx_port, "rate", rate)
    local tx0, rx0 = counts()
    pktgen.start(tx_port)
    pktgen.delay(trial_s * 1000)
    pktgen.stop(tx_port)
    pktgen.delay(1000)                 -- drain: late packets still count as received
    local tx1, rx1 = counts()
    local tx, rx = tx1 - tx0, rx1 - rx0
    local loss = 100.0
    if tx > 0 then loss = (tx - rx) * 100.0 / tx end
    if loss < 0 then loss = 0 end     -- stray packets (ARP etc.) on the receive port
    pktgen.delay(pause_s * 1000)
    return loss, tx, rx
end

local function search(size)
    if mode == "decap" then
        pktgen.pcap(tx_port, "on")
    else
        setup_encap(size)
    end
    -- Try line rate first: if it passes, there is nothing to search.
    local loss, tx, rx = trial(100)
    printf("  size %4d  rate %6.2f%%  loss %.4f%%  (%d sent, %d received)\n", size, 100, loss, tx, rx)
    if loss <= max_loss then return 100, rx end
    local lo, hi, best_rx = 0, 100, 0
    while hi - lo > resolution do
        local mid = (lo + hi) / 2
        loss, tx, rx = trial(mid)
        printf("  size %4d  rate %6.2f%%  loss %.4f%%  (%d sent, %d received)\n", size, mid, loss, tx, rx)
        if loss <= max_loss then
            lo, best_rx = mid, rx
        else
            hi = mid
        end
    end
    return lo, best_rx
end

pktgen.screen("off")
pktgen.stop("all")
pktgen.clr()
pktgen.delay(2000)  -- vxrouted's vhost-user client has just connected; let the links settle
printf("rfc2544: mode %s, trial %d s, loss threshold %.4f%%, resolution %.2f%%\n",
       mode, trial_s, max_loss, resolution)

local results = {}
if mode == "decap" then sizes = {0} end   -- one pass: the pcap fixes the sizes
for _, size in ipairs(sizes) do
    local rate, rx = search(size)
    results[#results + 1] = {size = size, rate = rate, mpps = rx / trial_s / 1e6}
end

printf("\nrfc2544 %s throughput (loss <= %.4f%%)\n", mode, max_loss)
printf("%10s %14s %12s\n", "frame", "rate (% link)", "Mpps")
for _, r in ipairs(results) do
    local label = tostring(r.size)
    if mode == "decap" then label = "pcap" end
    printf("%10s %14.2f %12.3f\n", label, r.rate, r.mpps)
end

pktgen.quit()
