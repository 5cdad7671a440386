import type { ConnectionState, NearbyFriend } from '@nearby/client';
import { useConnectionState, useNearbyClient, useNearbyFriends, useNearbySnapshot } from '@nearby/client/react';
import { useCallback } from 'react';
import { Button, FlatList, Linking, Platform, StyleSheet, Text, View } from 'react-native';
import { formatAge, formatDistance } from './format';
import { useForegroundLocation, type Fix } from './useForegroundLocation';
import { useNow } from './useNow';

export function NearbyScreen({ serverUrl }: { serverUrl: string }) {
  return (
    <View style={styles.screen}>
      <Header serverUrl={serverUrl} />
      <LocationPanel />
      <FriendList />
    </View>
  );
}

const STATE_LABELS: Record<ConnectionState, { label: string; color: string }> = {
  idle: { label: 'Not connected', color: '#8a8f98' },
  connecting: { label: 'Connecting…', color: '#d08700' },
  connected: { label: 'Live', color: '#1a7f37' },
  reconnecting: { label: 'Reconnecting…', color: '#d08700' },
  closed: { label: 'Disconnected', color: '#cf222e' },
};

function Header({ serverUrl }: { serverUrl: string }) {
  const state = useConnectionState();
  const lastError = useNearbySnapshot((snapshot) => snapshot.lastError);
  const { label, color } = STATE_LABELS[state];
  return (
    <View style={styles.header}>
      <View style={styles.row}>
        <Text style={styles.title}>Nearby</Text>
        <View style={[styles.badge, { backgroundColor: color }]}>
          <Text style={styles.badgeText} testID="connection-state" accessibilityLabel={`connection ${state}`}>
            {label}
          </Text>
        </View>
      </View>
      <Text style={styles.muted} numberOfLines={1}>
        {serverUrl}
      </Text>
      {lastError !== null && state !== 'connected' ? (
        <Text style={styles.error} testID="connection-error">
          {lastError.code}: {lastError.message}
        </Text>
      ) : null}
    </View>
  );
}

function LocationPanel() {
  const client = useNearbyClient();
  const onFix = useCallback(
    (fix: Fix) => {
      try {
        client.updateLocation(fix);
      } catch (error) {
        // Only an invalid fix throws (code invalid_location); skip it and keep watching.
        console.warn(error);
      }
    },
    [client],
  );
  const { permission, error, request } = useForegroundLocation(onFix);

  if (permission === 'granted') {
    return error === null ? null : (
      <View style={styles.panel}>
        <Text style={styles.panelTitle}>No location</Text>
        <Text style={styles.panelText}>{error}</Text>
      </View>
    );
  }
  if (permission === 'checking') return null;
  return (
    <View style={styles.panel} testID="location-permission">
      <Text style={styles.panelTitle}>Share your location</Text>
      <Text style={styles.panelText}>
        {permission === 'undetermined'
          ? 'Nearby shows the friends who are close to you, and shows you to them, while the app is open.'
          : 'Without your location, Nearby cannot tell which friends are close to you.'}
      </Text>
      {permission === 'blocked' ? (
        Platform.OS === 'web' ? (
          <Text style={styles.panelText}>Allow location for this site in the browser&apos;s settings, then reload the page.</Text>
        ) : (
          <Button title="Open settings" onPress={() => void Linking.openSettings()} />
        )
      ) : (
        <Button title={permission === 'denied' ? 'Try again' : 'Share my location'} onPress={request} />
      )}
    </View>
  );
}

function FriendList() {
  const friends = useNearbyFriends();
  const radiusKm = useNearbySnapshot((snapshot) => snapshot.radiusKm);
  const now = useNow(1000);
  return (
    <FlatList
      data={friends}
      keyExtractor={(friend) => friend.userId}
      renderItem={({ item }) => <FriendRow friend={item} now={now} />}
      // Rows read `now`; without it in extraData the list would not re-render each second.
      extraData={now}
      contentContainerStyle={styles.list}
      ListEmptyComponent={
        <Text style={styles.empty} testID="no-friends">
          No friends within {radiusKm === null ? 'range' : formatDistance(radiusKm)} right now.
        </Text>
      }
    />
  );
}

function FriendRow({ friend, now }: { friend: NearbyFriend; now: number }) {
  return (
    <View style={styles.friend} testID={`friend-${friend.userId}`}>
      <Text style={styles.friendName}>{friend.userId}</Text>
      <View style={styles.friendFacts}>
        <Text style={styles.distance} testID={`distance-${friend.userId}`}>
          {formatDistance(friend.distanceKm)}
        </Text>
        <Text style={styles.muted} testID={`age-${friend.userId}`}>
          {formatAge(friend.updatedAt, now)}
        </Text>
      </View>
    </View>
  );
}

const styles = StyleSheet.create({
  screen: { flex: 1 },
  header: { paddingHorizontal: 20, paddingTop: 16, paddingBottom: 12, gap: 4 },
  row: { flexDirection: 'row', alignItems: 'center', justifyContent: 'space-between' },
  title: { fontSize: 28, fontWeight: '700' },
  badge: { borderRadius: 12, paddingHorizontal: 10, paddingVertical: 4 },
  badgeText: { color: 'white', fontWeight: '600' },
  muted: { color: '#6b7280' },
  error: { color: '#cf222e' },
  panel: { marginHorizontal: 16, marginBottom: 12, padding: 16, borderRadius: 12, backgroundColor: 'white', gap: 8 },
  panelTitle: { fontSize: 17, fontWeight: '600' },
  panelText: { color: '#374151' },
  list: { paddingHorizontal: 16, paddingBottom: 24, gap: 8 },
  empty: { textAlign: 'center', color: '#6b7280', marginTop: 32 },
  friend: {
    flexDirection: 'row',
    justifyContent: 'space-between',
    alignItems: 'center',
    padding: 16,
    borderRadius: 12,
    backgroundColor: 'white',
  },
  friendName: { fontSize: 17, fontWeight: '500' },
  friendFacts: { alignItems: 'flex-end' },
  distance: { fontSize: 17, fontVariant: ['tabular-nums'] },
});
