import { useCallback, useEffect, useRef, useState } from 'react';
import { AppState } from 'react-native';
import * as Location from 'expo-location';

/**
 * Where the foreground-location flow stands:
 * - `checking`: reading the current permission;
 * - `undetermined`: never asked; show why, then call `request()`;
 * - `denied`: refused, but the system lets the app ask again;
 * - `blocked`: refused for good; only the system settings can change it;
 * - `granted`: positions are being watched.
 */
export type LocationPermission = 'checking' | 'undetermined' | 'denied' | 'blocked' | 'granted';

export interface ForegroundLocation {
  permission: LocationPermission;
  /** Why watching positions failed (location services off, …), else null. */
  error: string | null;
  /** Shows the system prompt (when the system still allows one). */
  request(): void;
}

export interface Fix {
  lat: number;
  lon: number;
  accuracy?: number;
  timestamp: number;
}

function toPermission(response: Location.LocationPermissionResponse): LocationPermission {
  if (response.granted) return 'granted';
  if (response.status === Location.PermissionStatus.UNDETERMINED) return 'undetermined';
  return response.canAskAgain ? 'denied' : 'blocked';
}

/**
 * Foreground location: checks the permission (again whenever the app returns to the
 * foreground, since the user may have changed it in the settings), and while it is granted
 * watches positions and hands each one to `onFix`.
 */
export function useForegroundLocation(onFix: (fix: Fix) => void): ForegroundLocation {
  const [permission, setPermission] = useState<LocationPermission>('checking');
  const [error, setError] = useState<string | null>(null);
  const onFixRef = useRef(onFix);
  onFixRef.current = onFix;

  useEffect(() => {
    let active = true;
    const check = () => {
      Location.getForegroundPermissionsAsync().then(
        (response) => active && setPermission(toPermission(response)),
        (reason: unknown) => active && setError(String(reason)),
      );
    };
    check();
    const subscription = AppState.addEventListener('change', (state) => {
      if (state === 'active') check();
    });
    return () => {
      active = false;
      subscription.remove();
    };
  }, []);

  useEffect(() => {
    if (permission !== 'granted') return;
    let active = true;
    let watch: Location.LocationSubscription | undefined;
    setError(null);
    Location.watchPositionAsync(
      { accuracy: Location.Accuracy.Balanced, timeInterval: 10_000, distanceInterval: 20 },
      ({ coords, timestamp }) => {
        onFixRef.current({
          lat: coords.latitude,
          lon: coords.longitude,
          ...(coords.accuracy === null ? {} : { accuracy: coords.accuracy }),
          timestamp,
        });
      },
      (reason) => active && setError(reason),
    ).then(
      (subscription) => {
        if (active) watch = subscription;
        else subscription.remove();
      },
      (reason: unknown) => active && setError(reason instanceof Error ? reason.message : String(reason)),
    );
    return () => {
      active = false;
      watch?.remove();
    };
  }, [permission]);

  const request = useCallback(() => {
    Location.requestForegroundPermissionsAsync().then(
      (response) => setPermission(toPermission(response)),
      (reason: unknown) => setError(String(reason)),
    );
  }, []);

  return { permission, error, request };
}
