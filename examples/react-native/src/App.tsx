import AsyncStorage from '@react-native-async-storage/async-storage';
import NetInfo from '@react-native-community/netinfo';
import { fromAppState, fromNetInfo, type NearbyClientOptions } from '@nearby/client';
import { NearbyProvider } from '@nearby/client/react';
import { StatusBar } from 'expo-status-bar';
import { AppState, StyleSheet } from 'react-native';
import { SafeAreaProvider, SafeAreaView } from 'react-native-safe-area-context';
import { serverConfig } from './config';
import { NearbyScreen } from './NearbyScreen';

const server = serverConfig();

// Created once, outside the component tree: the provider creates one client from these options.
const options: NearbyClientOptions = {
  url: server.url,
  token: server.token,
  // Background / foreground and connectivity drive the connection (see docs/react-native.md).
  appState: fromAppState(AppState),
  network: fromNetInfo(NetInfo),
  // Samples not yet acknowledged by the server survive an app restart.
  storage: AsyncStorage,
  // Stored samples carry no user id: one key per signed-in user (here the token names the user).
  storageKey: `nearby:outbox:${server.token}`,
};

export function App() {
  return (
    <NearbyProvider options={options}>
      <SafeAreaProvider>
        <SafeAreaView style={styles.root}>
          <StatusBar style="auto" />
          <NearbyScreen serverUrl={server.url} />
        </SafeAreaView>
      </SafeAreaProvider>
    </NearbyProvider>
  );
}

const styles = StyleSheet.create({
  root: { flex: 1, backgroundColor: '#f6f7f9' },
});
