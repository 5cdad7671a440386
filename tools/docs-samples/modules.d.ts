// Modules of a React Native app that the workspace does not install, declared with just the
// members the samples use (shapes as in react-native, @react-native-community/netinfo,
// @react-native-async-storage/async-storage and expo-location).
declare module 'react-native' {
  import type { ComponentType, ReactElement, ReactNode } from 'react';
  type AppStateStatus = 'active' | 'background' | 'inactive' | 'unknown' | 'extension';
  export const AppState: {
    currentState: AppStateStatus;
    addEventListener(type: 'change', listener: (state: AppStateStatus) => void): { remove(): void };
  };
  export const Text: ComponentType<{ children?: ReactNode; style?: unknown }>;
  export const View: ComponentType<{ children?: ReactNode; style?: unknown }>;
  export function FlatList<T>(props: {
    data: readonly T[] | null | undefined;
    keyExtractor?: (item: T, index: number) => string;
    renderItem: (info: { item: T; index: number }) => ReactElement | null;
  }): ReactElement;
  export const Linking: { openSettings(): Promise<void> };
}

declare module '@react-native-community/netinfo' {
  interface NetInfoState {
    isConnected: boolean | null;
    isInternetReachable: boolean | null;
  }
  const NetInfo: {
    addEventListener(listener: (state: NetInfoState) => void): () => void;
    fetch(): Promise<NetInfoState>;
  };
  export default NetInfo;
}

declare module '@react-native-async-storage/async-storage' {
  const AsyncStorage: {
    getItem(key: string): Promise<string | null>;
    setItem(key: string, value: string): Promise<void>;
    removeItem(key: string): Promise<void>;
  };
  export default AsyncStorage;
}

declare module 'expo-location' {
  export enum Accuracy {
    Lowest = 1,
    Low = 2,
    Balanced = 3,
    High = 4,
    Highest = 5,
    BestForNavigation = 6,
  }
  export interface LocationObject {
    coords: { latitude: number; longitude: number; accuracy: number | null };
    timestamp: number;
  }
  export function watchPositionAsync(
    options: { accuracy?: Accuracy; timeInterval?: number; distanceInterval?: number },
    callback: (location: LocationObject) => void,
  ): Promise<{ remove(): void }>;
  export function requestForegroundPermissionsAsync(): Promise<{ status: 'granted' | 'denied' | 'undetermined'; canAskAgain: boolean }>;
}
