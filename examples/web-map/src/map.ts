import L from 'leaflet';
import type { NearbyClient, NearbyFriend } from '@nearby/client';
import type { MapConfig } from './config.js';
import { formatAge, formatDistance, opacityForAge } from './format.js';
import { createGridLayer } from './grid-layer.js';

/** How often labels ("12 s ago") and fading are refreshed. */
const TICK_MS = 1000;
/** A fixed position is sent again this often, so it stays current for friends. */
const FIXED_RESEND_MS = 60_000;

interface FriendMarker {
  marker: L.Marker;
  element: HTMLElement;
  friend: NearbyFriend;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A marker made of a dot and a label, positioned at its centre. */
function labelledIcon(className: string, label: string): L.DivIcon {
  return L.divIcon({
    className,
    html: `<span class="dot"></span><span class="label">${label}</span>`,
    iconSize: [14, 14],
    iconAnchor: [7, 7],
  });
}

/**
 * Draws what `client` sees on a Leaflet map in `element`: the viewer with the radius as a
 * circle, each friend as a labelled marker that moves with every update, fades as its position
 * ages toward `inactiveAfterMs`, and is removed when the friend leaves the list. Returns a
 * function that stops the timers.
 */
export function startMap(element: HTMLElement, client: NearbyClient, config: MapConfig): () => void {
  const map = L.map(element, { zoomControl: true, attributionControl: true }).setView([0, 0], 2);
  if (config.tiles !== undefined) {
    L.tileLayer(config.tiles, { maxZoom: 19, attribution: 'tiles: configured tile server' }).addTo(map);
  } else {
    createGridLayer().addTo(map);
  }

  const status = document.getElementById('status');
  const friendList = document.getElementById('friends');
  const eventList = document.getElementById('events');
  const markers = new Map<string, FriendMarker>();
  let viewer: L.LatLng | null = null;
  let viewerMarker: L.Marker | null = null;
  let circle: L.Circle | null = null;
  let framed = false;

  const log = (text: string) => {
    if (eventList === null) return;
    const item = document.createElement('li');
    item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    eventList.prepend(item);
    while (eventList.children.length > 8) eventList.lastElementChild!.remove();
  };

  const radiusKm = () => client.getSnapshot().radiusKm;

  /** Frames the map once: on the radius around the viewer, else on the friends. */
  const frame = () => {
    if (framed) return;
    const radius = radiusKm();
    if (viewer !== null && radius !== null) {
      map.fitBounds(viewer.toBounds(radius * 2000));
      framed = true;
    } else if (viewer === null && markers.size > 0) {
      const bounds = L.latLngBounds([...markers.values()].map(({ friend }) => [friend.lat, friend.lon]));
      map.fitBounds(bounds.pad(0.5), { maxZoom: 14 });
      framed = true;
    }
  };

  const drawViewer = () => {
    const radius = radiusKm();
    if (viewer === null) return;
    if (viewerMarker === null) {
      const name = config.user === '' ? 'you' : `${escapeHtml(config.user)} (you)`;
      viewerMarker = L.marker(viewer, { icon: labelledIcon('viewer-marker', name), keyboard: false, zIndexOffset: 1000 }).addTo(map);
      viewerMarker.getElement()?.setAttribute('data-viewer', config.user);
    } else {
      viewerMarker.setLatLng(viewer);
    }
    if (radius === null) return;
    if (circle === null) {
      circle = L.circle(viewer, { radius: radius * 1000, color: '#2e6be4', weight: 1, fillOpacity: 0.06, className: 'radius-circle' }).addTo(map);
    } else {
      circle.setLatLng(viewer).setRadius(radius * 1000);
    }
    frame();
  };

  const setViewer = (lat: number, lon: number) => {
    viewer = L.latLng(lat, lon);
    drawViewer();
  };

  /** Refreshes one marker's label and opacity for the current time. */
  const refresh = (entry: FriendMarker, now: number) => {
    // Ages in server time, against the server's own expiry rule, as the client measured them.
    const { inactiveAfterMs, serverTimeOffsetMs } = client.getSnapshot();
    const age = now + serverTimeOffsetMs - entry.friend.updatedAt;
    entry.element.querySelector('.distance')!.textContent = formatDistance(entry.friend.distanceKm);
    entry.element.querySelector('.age')!.textContent = formatAge(age);
    const opacity = opacityForAge(age, inactiveAfterMs);
    entry.marker.setOpacity(opacity);
    entry.element.dataset.opacity = opacity.toFixed(2);
  };

  const renderFriends = (friends: readonly NearbyFriend[]) => {
    const now = Date.now();
    const present = new Set<string>();
    for (const friend of friends) {
      present.add(friend.userId);
      let entry = markers.get(friend.userId);
      if (entry === undefined) {
        const label = `<b class="name">${escapeHtml(friend.userId)}</b> <span class="distance"></span> · <span class="age"></span>`;
        const marker = L.marker([friend.lat, friend.lon], { icon: labelledIcon('friend-marker', label), keyboard: false }).addTo(map);
        const element = marker.getElement()!;
        element.dataset.friend = friend.userId;
        entry = { marker, element, friend };
        markers.set(friend.userId, entry);
      } else {
        entry.friend = friend;
        entry.marker.setLatLng([friend.lat, friend.lon]);
      }
      entry.element.dataset.lat = String(friend.lat);
      entry.element.dataset.lon = String(friend.lon);
      refresh(entry, now);
    }
    for (const [userId, entry] of markers) {
      if (present.has(userId)) continue;
      entry.marker.remove();
      markers.delete(userId);
    }
    if (friendList !== null) {
      friendList.replaceChildren(
        ...friends.map((friend) => {
          const item = document.createElement('li');
          item.textContent = `${friend.userId} — ${formatDistance(friend.distanceKm)}`;
          return item;
        }),
      );
    }
    frame();
  };

  const renderStatus = () => {
    if (status === null) return;
    const snapshot = client.getSnapshot();
    const who = snapshot.userId ?? (config.user || '?');
    const radius = snapshot.radiusKm === null ? '' : `, radius ${snapshot.radiusKm} km`;
    const error = snapshot.lastError === null ? '' : ` — ${snapshot.lastError.code}: ${snapshot.lastError.message}`;
    status.textContent = `${who}: ${snapshot.state}${radius}, ${snapshot.friends.length} friends nearby${error}`;
    status.dataset.state = snapshot.state;
    status.className = snapshot.lastError === null ? '' : 'error';
  };

  let lastRadius: number | null = null;
  const unsubscribe = client.subscribe(() => {
    renderStatus();
    const radius = radiusKm();
    if (radius !== lastRadius) {
      lastRadius = radius;
      drawViewer();
    }
  });
  client.on('nearby', renderFriends);
  client.on('friendLeft', ({ userId, reason }) => log(`${userId} left (${reason})`));
  client.on('friendAdded', (userId) => log(`${userId} is now a friend`));
  client.on('friendRemoved', (userId) => log(`${userId} is no longer a friend`));
  client.on('state', (state) => log(`connection ${state}`));
  client.on('error', (error) => log(`error ${error.code}`));
  renderStatus();

  const timers: ReturnType<typeof setInterval>[] = [];
  timers.push(
    setInterval(() => {
      const now = Date.now();
      for (const entry of markers.values()) refresh(entry, now);
    }, TICK_MS),
  );

  const source = config.viewer;
  let watch: number | undefined;
  if (source.kind === 'fixed') {
    const share = () => client.updateLocation({ lat: source.lat, lon: source.lon });
    share();
    setViewer(source.lat, source.lon);
    timers.push(setInterval(share, FIXED_RESEND_MS));
  } else if (source.kind === 'geolocation') {
    watch = navigator.geolocation.watchPosition(
      ({ coords }) => {
        client.updateLocation({ lat: coords.latitude, lon: coords.longitude, accuracy: coords.accuracy });
        setViewer(coords.latitude, coords.longitude);
      },
      (error) => log(`geolocation: ${error.message}`),
      { enableHighAccuracy: true },
    );
  } else if (source.kind === 'poll') {
    const poll = async () => {
      try {
        const response = await fetch(source.url, { cache: 'no-store' });
        const { lat, lon } = (await response.json()) as { lat: number; lon: number };
        if (Number.isFinite(lat) && Number.isFinite(lon)) setViewer(lat, lon);
      } catch {
        // Polled again at the next tick.
      }
    };
    void poll();
    timers.push(setInterval(() => void poll(), TICK_MS));
  }

  return () => {
    for (const timer of timers) clearInterval(timer);
    if (watch !== undefined) navigator.geolocation.clearWatch(watch);
    unsubscribe();
    map.remove();
  };
}
